"""The contact sheet is left alone only when it would come out byte for byte the same; every other case rewrites it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gptimg import imagepage
from gptimg.batch import contact_sheet, report
from gptimg.batch.contact_sheet import render, write_contact_sheet
from gptimg.batch.manifest import ManifestLine
from gptimg.batch.report import LineResult

PNG = b"\x89PNG\r\n\x1a\n"


def finished(out_dir: Path, count: int, *, prompt: str = "a fox", job: str = "job") -> list[LineResult]:
    """``count`` lines, each with one image saved in ``out_dir``."""
    out_dir.mkdir(exist_ok=True)
    results = []
    for number in range(1, count + 1):
        line = ManifestLine(line=number, key=f"k{number}", prompt=f"{prompt} {number}", size="1024x1024", n=1,
                            name=f"img{number}")
        file = out_dir / f"img{number}-{job}{number}-1.png"
        file.write_bytes(PNG)
        results.append(LineResult(line, report.ALREADY_DONE, job_id=f"{job}{number}", files=[str(file)]))
    return results


def page_of(index: Path) -> str:
    """The page as shown: everything before the seal line."""
    text = index.read_text("utf-8")
    body, _, seal = text[:-1].rpartition("\n")
    assert seal.startswith("<!-- gptimg sheet ") and seal.endswith(" -->")
    return body + "\n"


def written_again(index: Path, results: list[LineResult], out_dir: Path, **kwargs: str) -> bool:
    """Write the sheet again; whether the file was replaced (a new inode: ``write_page`` renames a new file in)."""
    before = index.stat().st_ino if index.exists() else None
    assert write_contact_sheet(results, out_dir, **kwargs) == index
    return index.stat().st_ino != before


@pytest.fixture
def sheet(tmp_path: Path) -> tuple[Path, Path, list[LineResult]]:
    out_dir = tmp_path / "out"
    results = finished(out_dir, 4)
    index = write_contact_sheet(results, out_dir)
    assert page_of(index) == render(results, out_dir)
    return out_dir, index, results


def test_an_unchanged_sheet_is_left_as_it_is(sheet: tuple[Path, Path, list[LineResult]]) -> None:
    out_dir, index, results = sheet
    before = index.read_bytes()
    assert not written_again(index, results, out_dir)
    assert index.read_bytes() == before


def test_a_deleted_sheet_is_written_again(sheet: tuple[Path, Path, list[LineResult]]) -> None:
    out_dir, index, results = sheet
    before = index.read_bytes()
    index.unlink()
    write_contact_sheet(results, out_dir)
    assert index.read_bytes() == before


@pytest.mark.parametrize("edit", ["one byte of a tile", "the seal's page digest", "the seal's input digest",
                                  "cut short", "seal removed", "only the head left", "a line appended"])
def test_a_sheet_edited_by_hand_is_written_again(sheet: tuple[Path, Path, list[LineResult]], edit: str) -> None:
    out_dir, index, results = sheet
    before = index.read_bytes()
    data = bytearray(before)
    seal_at = before.rindex(b"<!-- gptimg sheet ")
    if edit == "one byte of a tile":  # the same size, in the middle of the page
        at = before.index(b"a fox 2")
        data[at] = ord("A")
    elif edit == "the seal's page digest":
        data[-6] = ord("0") if data[-6] != ord("0") else ord("1")
    elif edit == "the seal's input digest":
        at = seal_at + len(b"<!-- gptimg sheet ")
        data[at] = ord("0") if data[at] != ord("0") else ord("1")
    elif edit == "cut short":
        data = data[: len(data) // 2]
    elif edit == "seal removed":
        data = data[:seal_at]
    elif edit == "only the head left":  # (an empty file is not ours: gptimg-index.html is written beside it)
        data = data[:80]
    else:
        data += b"<p>mine</p>\n"
    index.write_bytes(bytes(data))
    write_contact_sheet(results, out_dir)
    assert index.read_bytes() == before


def test_an_image_of_another_job_a_missing_image_or_a_new_line_changes_the_sheet(
    sheet: tuple[Path, Path, list[LineResult]]
) -> None:
    out_dir, index, results = sheet
    replaced = list(results)
    (new_file,) = finished(out_dir, 1, job="other")[0].files
    replaced[1] = LineResult(results[1].line, report.DONE, job_id="other1", files=[new_file])
    assert written_again(index, replaced, out_dir)
    assert page_of(index) == render(replaced, out_dir) and "other1" in page_of(index)

    Path(results[2].files[0]).unlink()
    assert written_again(index, replaced, out_dir)
    assert "(1 missing)" in page_of(index) and page_of(index) == render(replaced, out_dir)

    added = [*replaced, *finished(out_dir, 5, prompt="a hare")[4:]]
    assert written_again(index, added, out_dir)
    assert "a hare 5" in page_of(index) and page_of(index) == render(added, out_dir)
    assert not written_again(index, added, out_dir)


def test_a_changed_prompt_name_or_title_changes_the_sheet(sheet: tuple[Path, Path, list[LineResult]]) -> None:
    out_dir, index, results = sheet
    first = results[0]
    reworded = [LineResult(ManifestLine(line=1, key="k1", prompt="a wolf 1", size="1024x1024", n=1, name="img1"),
                           first.status, job_id=first.job_id, files=first.files), *results[1:]]
    assert written_again(index, reworded, out_dir)
    assert "a wolf 1" in page_of(index)
    renamed = [LineResult(ManifestLine(line=1, key="k1", prompt="a wolf 1", size="1024x1024", n=1, name="img1b"),
                          first.status, job_id=first.job_id, files=first.files), *results[1:]]
    assert written_again(index, renamed, out_dir)
    assert written_again(index, renamed, out_dir, title="gptimg batch: other.jsonl")
    assert "other.jsonl" in page_of(index)


def test_a_sheet_from_a_gptimg_that_draws_pages_differently_is_written_again(
    sheet: tuple[Path, Path, list[LineResult]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seal covers probe tiles drawn by the running code: another version's page is not kept."""
    out_dir, index, results = sheet
    monkeypatch.setattr(imagepage, "STYLE", imagepage.STYLE + "figure{margin:1px}\n")
    assert written_again(index, results, out_dir)
    assert "figure{margin:1px}" in page_of(index)
    monkeypatch.setattr(imagepage, "_tile_html", lambda tile, *dirs: f"<figure>{tile.prompt}</figure>")
    assert written_again(index, results, out_dir)
    assert "<figure>a fox 1</figure>" in page_of(index)


def test_an_image_outside_the_folder_is_sealed_by_where_it_leads(tmp_path: Path) -> None:
    """A file shown by a path outside the folder: the page changes when its link is pointed elsewhere."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    first, second = tmp_path / "a" / "one.png", tmp_path / "b" / "one.png"
    for target in (first, second):
        target.parent.mkdir()
        target.write_bytes(PNG)
    (tmp_path / "via").symlink_to(first.parent)
    line = ManifestLine(line=1, key="k", prompt="p", size="1024x1024", n=1)
    results = [LineResult(line, report.ALREADY_DONE, job_id="j", files=[str(tmp_path / "via" / "one.png")])]
    index = write_contact_sheet(results, out_dir)
    assert "a/one.png" in page_of(index)
    assert not written_again(index, results, out_dir)
    (tmp_path / "via").unlink()
    (tmp_path / "via").symlink_to(second.parent)
    assert written_again(index, results, out_dir)
    assert "b/one.png" in page_of(index)


def test_the_seal_is_the_last_line_and_the_page_still_reads_as_before(
    sheet: tuple[Path, Path, list[LineResult]]
) -> None:
    out_dir, index, _ = sheet
    text = index.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>\n" + contact_sheet.MARKER)
    assert text.count("</html>") == 1 and text.index("</html>") < text.rindex("<!-- gptimg sheet ")
    assert os.stat(index).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
