"""Saved images: safe names inside --out, never an overwrite, readable modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gptimg.gateway import GatewayClient
from gptimg.jobs.download import save_job_images
from gptimg.jobs.journal import JobRecord
from gptimg.jobs.naming import image_stem, safe_job_id, slugify
from gptimg.sandbox import SandboxConfig, SandboxGateway


@pytest.mark.parametrize(
    "prompt",
    ["../../etc/passwd", "/absolute/path", "a\x00b", "x" * 10_000, "..", "日本の 桜", "   ", "a/b\\c:d*e?f"],
)
def test_stems_are_plain_names(prompt: str) -> None:
    stem = image_stem(prompt, "../../evil", 1)
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem and ".." not in stem
    assert len(stem) < 120
    assert stem.endswith("-1")


def test_slug_keeps_words_and_falls_back() -> None:
    assert slugify("A Shiba Inu, under cherry blossoms!") == "a-shiba-inu-under-cherry-blossoms"
    assert slugify("日本の桜") == "日本の桜"
    assert slugify("!!!") == "image"


def test_unsafe_job_ids_are_replaced_by_a_stable_hash() -> None:
    assert safe_job_id("0b84b8f0f0c8") == "0b84b8f0f0c8"
    assert safe_job_id("../x") == safe_job_id("../x") != "../x"
    assert "/" not in safe_job_id("../x")


@pytest.fixture
def sandbox_job(tmp_path: Path):
    with SandboxGateway(SandboxConfig(delay=0)) as sb:
        key = sb.create_account(email="dl@example.invalid")
        client = GatewayClient(sb.base_url, key)
        job = client.submit({"prompt": "fox", "n": 2}).data["job_id"]
        items = client.poll_result(job, 5).data["items"]
        yield client, job, items


def test_existing_files_are_never_overwritten_and_reruns_reuse_saved_images(sandbox_job, tmp_path: Path) -> None:
    client, job, items = sandbox_job
    out = tmp_path / "out"
    out.mkdir()
    squatter = out / f"fox-{job}-1.png"
    squatter.write_bytes(b"mine, not an image")
    first = save_job_images(client, job, items, out, "fox")
    assert squatter.read_bytes() == b"mine, not an image", "an existing file must never be replaced"
    assert [s.downloaded for s in first] == [True, True]
    assert first[0].path.name == f"fox-{job}-1-2.png"
    again = save_job_images(client, job, items, out, "fox")
    assert [s.downloaded for s in again] == [False, False]
    assert [s.path for s in again] == [s.path for s in first]
    assert len(list(out.iterdir())) == 3


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_saved_images_get_the_normal_file_mode_not_the_private_temp_mode(sandbox_job, tmp_path: Path) -> None:
    client, job, items = sandbox_job
    previous = os.umask(0o022)
    try:
        saved = save_job_images(client, job, items[:1], tmp_path / "out", "fox")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(saved[0].path.stat().st_mode) == 0o644


def _done_record(client: GatewayClient, job: str) -> JobRecord:
    """The journal row of a finished one-image job, as the provenance stamp reads it."""
    return JobRecord(id=1, created_at="2026-11-25T10:00:00Z", updated_at="", status="done", job_id=job,
                     gateway=client.base_url, account="dl@example.invalid", prompt="fox", style=None,
                     size="1024x1024", n=1, reference_urls=None, estimated_seconds=None, credits_used=None)


def test_a_full_disk_while_writing_the_record_leaves_no_image_and_no_temporary(
    sandbox_job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from gptimg import errors, provenance

    client, job, items = sandbox_job
    record = _done_record(client, job)
    real_copy = provenance._copy

    def copy_until_full(source, sink, count):  # noqa: ANN001 - the real signature
        if count > 100:  # past IHDR: in the pixel data
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(source, sink, count)

    monkeypatch.setattr(provenance, "_copy", copy_until_full)
    out = tmp_path / "out"
    rewriting_stamp = provenance.png_stamper(record, job, 1)
    del rewriting_stamp.chunks  # the stamp that rewrites the saved file (the streamed one: test below)
    with pytest.raises(errors.OutputNotWritable) as caught:
        save_job_images(client, job, items[:1], out, "fox", stamp=rewriting_stamp)
    assert caught.value.details.get("job_id") == job
    assert list(out.iterdir()) == [], "neither a half-stamped image nor a temporary file may stay"
    monkeypatch.setattr(provenance, "_copy", real_copy)
    [saved] = save_job_images(client, job, items[:1], out, "fox", stamp=provenance.png_stamper(record, job, 1))
    assert provenance.read_record(saved.path)["job_id"] == job


def test_a_full_disk_while_the_record_streams_in_leaves_no_image_and_no_temporary(
    sandbox_job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from gptimg import errors, provenance
    from gptimg.jobs import stampstream

    client, job, items = sandbox_job
    record = _done_record(client, job)
    real_pass = stampstream.StampingWriter._pass

    def full_at_the_record(self, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - the real signature
        if b"iTXt" in data:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pass(self, data, *args, **kwargs)

    monkeypatch.setattr(stampstream.StampingWriter, "_pass", full_at_the_record)
    out = tmp_path / "out"
    with pytest.raises(errors.OutputNotWritable) as caught:
        save_job_images(client, job, items[:1], out, "fox", stamp=provenance.png_stamper(record, job, 1))
    assert caught.value.details.get("job_id") == job
    assert list(out.iterdir()) == [], "neither a half-stamped image nor a temporary file may stay"
    monkeypatch.undo()
    [saved] = save_job_images(client, job, items[:1], out, "fox", stamp=provenance.png_stamper(record, job, 1))
    assert provenance.read_record(saved.path)["job_id"] == job


def _count_folder_listings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``os.scandir``/``os.listdir`` call (``Path.iterdir`` uses the latter) from here on."""
    listings: list[object] = []
    for name in ("scandir", "listdir"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda path=".", real=real: listings.append(path) or real(path))
    return listings


def test_an_image_saved_under_another_label_is_found_among_20000_unrelated_files(
    sandbox_job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-run check finds the earlier file, and lists the folder once, not once per image."""
    from gptimg.jobs import naming

    client, job, items = sandbox_job
    out = tmp_path / "out"
    out.mkdir()
    for i in range(20_000):
        (out / f"holiday-{i:05d}-1.png").touch()
    first = save_job_images(client, job, items, out, "old label")
    assert [s.downloaded for s in first] == [True, True]

    listings = _count_folder_listings(monkeypatch)
    naming._LISTINGS.clear()  # as in a fresh process
    again = save_job_images(client, job, items, out, "a new label")
    assert [s.downloaded for s in again] == [False, False], "already saved: not downloaded again"
    assert [s.path for s in again] == [s.path for s in first]
    assert len(listings) == 1, "one listing for the whole job, not one per image"
    assert len(list(out.iterdir())) == 20_002


def test_a_file_that_lands_after_the_listing_is_still_never_overwritten(sandbox_job, tmp_path: Path) -> None:
    """The listing may be seconds old: an image under this label is looked for on disk, and the
    final rename refuses any name that exists by then."""
    from gptimg.jobs import naming

    client, job, items = sandbox_job
    out = tmp_path / "out"
    out.mkdir()
    assert naming.existing_image(out, job, 1) is None  # the listing is taken here, while the folder is empty
    theirs = out / f"fox-{job}-1.png"
    theirs.write_bytes(b"\x89PNG\r\n\x1a\n" + b"saved by another run")
    reused = save_job_images(client, job, items[:1], out, "fox")
    assert reused[0].path == theirs and not reused[0].downloaded
    squatter = out / f"fox-{job}-2.png"
    squatter.write_bytes(b"not an image, and not ours")
    fresh = save_job_images(client, job, items, out, "fox")
    assert squatter.read_bytes() == b"not an image, and not ours"
    assert fresh[1].path.name == f"fox-{job}-2-2.png" and fresh[1].downloaded


def test_many_jobs_saved_into_one_folder_list_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's per-image check must not re-read the folder: per-image work stays flat as it fills."""
    from gptimg.jobs import naming

    out = tmp_path / "out"
    out.mkdir()
    listings = _count_folder_listings(monkeypatch)
    naming._LISTINGS.clear()
    for number in range(200):
        job = f"job{number:04d}"
        assert naming.existing_image(out, job, 1) is None
        saved = out / f"line-{job}-1.png"
        saved.write_bytes(b"\x89PNG\r\n\x1a\n")
        naming.remember_saved(out, saved.name)
        assert naming.existing_image(out, job, 1) == saved
    assert len(listings) == 1


def test_a_plain_name_is_inside_without_resolving_and_a_link_out_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``inside`` runs for every image saved: the usual name must not resolve two whole paths, but a link
    (or a dotted name) that leads out of the folder is judged by where it leads, as before."""
    from gptimg.jobs import naming

    folder = tmp_path / "out"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "escape.png").symlink_to(elsewhere / "target.png")
    resolved: list[Path] = []
    real_resolve = Path.resolve

    def counting_resolve(self: Path, strict: bool = False) -> Path:
        resolved.append(self)
        return real_resolve(self, strict=strict)

    monkeypatch.setattr(Path, "resolve", counting_resolve)
    assert naming.inside(folder, folder / "fox-job1-1.png")
    assert resolved == [], "a plain name was resolved"
    assert not naming.inside(folder, folder / "escape.png")
    assert not naming.inside(folder, folder / ".." / "fox.png")
    assert not naming.inside(folder, folder / "sub" / "fox.png")


def test_a_folder_is_probed_once_and_one_that_stops_taking_files_still_fails_in_words(
    sandbox_job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-image work stays flat (one write probe per folder), and dropping the per-image probe must
    not let a folder that fills up later turn into a traceback: the save says which job to fetch."""
    import errno
    import tempfile

    from gptimg import errors
    from gptimg.jobs import download
    from gptimg.jobs import naming as naming_module

    client, job, items = sandbox_job
    out = tmp_path / "out"
    probes: list[str] = []
    real_probe = tempfile.NamedTemporaryFile

    def counting_probe(*args, **kwargs):
        probes.append(str(kwargs.get("dir")))
        return real_probe(*args, **kwargs)

    monkeypatch.setattr(download.tempfile, "NamedTemporaryFile", counting_probe)
    for label in ("fox", "again", "third"):
        save_job_images(client, job, items, out, label)
    assert probes == [str(out)], "one probe per folder and process, not one per image"

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "_partial_file", full_disk)
    for saved in out.iterdir():  # the images are gone, so the next save downloads again
        saved.unlink()
    naming_module._LISTINGS.clear()
    with pytest.raises(errors.OutputNotWritable) as caught:
        save_job_images(client, job, items, out, "fourth")
    assert caught.value.details.get("job_id") == job or job in (caught.value.hint or "")
    assert "No space left" in caught.value.message


def test_a_folder_listing_holds_each_name_in_under_a_hundred_and_twenty_bytes(tmp_path: Path) -> None:
    """A 5,000-file output folder's listing was 1.9 MiB of a batch's peak (a list per tail, each name under two),
    then ~300 bytes a name as a dict of str; packed, it is the name's bytes and a few table slots."""
    import tracemalloc

    from gptimg.jobs import naming

    count = 2000
    for i in range(count):
        (tmp_path / f"img{i:05d}-job_{i * 7919:024x}-1.png").touch()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        listing = naming._FolderListing(tmp_path)
        per_name = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert per_name < 120, f"the listing holds {per_name:.0f} bytes a name (~300 as a dict of str)"
    assert listing.saved_as(f"-job_{5 * 7919:024x}-1") == [f"img00005-job_{5 * 7919:024x}-1.png"]


def test_names_sharing_a_tail_are_all_found_whatever_order_they_arrive_in(tmp_path: Path) -> None:
    """One tail, three names (another label, a clash-renamed copy, one added after the listing): all found."""
    from gptimg.jobs import naming

    (tmp_path / "cat-abc-1.png").touch()
    (tmp_path / "dog-abc-1-2.png").touch()
    (tmp_path / "cat-xyz-1.png").touch()
    listing = naming._FolderListing(tmp_path)
    listing.add("fox-abc-1.webp")
    assert listing.saved_as("-abc-1") == ["cat-abc-1.png", "dog-abc-1-2.png", "fox-abc-1.webp"]
    assert listing.saved_as("-xyz-1") == ["cat-xyz-1.png"]
    assert listing.saved_as("-abc-2") == []


def test_a_packed_listing_whose_tails_all_share_one_hash_still_finds_exactly_each_tails_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The packed table files names by a 31-bit hash of their tail: a shared hash must never answer another tail."""
    from gptimg.jobs import naming

    monkeypatch.setattr(naming, "_slot_hash", lambda tail: 7)
    names = [f"img{i:04d}-job{i}-1.png" for i in range(1500)] + ["other-job3-1-2.png", "x-job3-2.png"]
    for name in names:
        (tmp_path / name).touch()
    listing = naming._FolderListing(tmp_path)  # 3,000 entries under one hash: grows past 1,024 slots, in one run
    assert listing.saved_as("-job3-1") == ["img0003-job3-1.png", "other-job3-1-2.png"]
    assert listing.saved_as("-job3-2") == ["x-job3-2.png"]
    assert listing.saved_as("-job9999-1") == []


def test_saving_an_image_interns_no_name_of_its_partial_file(
    sandbox_job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pathlib interns every name it parses; a unique name per image, dropped a moment later, churned the
    interpreter's table of interned strings until it doubled (~0.5 MiB, once, a few thousand images into a
    batch). The partial file is handled as a str."""
    import pathlib
    import sys
    import types

    from gptimg.jobs.download import PARTIAL_SUFFIX

    interned: list[str] = []

    class RecordingSys(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            return getattr(sys, name)

    recording = RecordingSys("sys")
    recording.intern = lambda text: interned.append(text) or sys.intern(text)  # type: ignore[attr-defined]
    monkeypatch.setattr(pathlib, "sys", recording)
    client, job, items = sandbox_job
    saved = save_job_images(client, job, items, tmp_path / "out", "fox")
    assert [image.path.is_file() for image in saved] == [True, True]
    assert interned, "the recording must see pathlib's interning (else this test proves nothing)"
    assert not [text for text in interned if PARTIAL_SUFFIX in text]
