"""The output folder's one listing answers "is this image saved?" exactly as a stat would, however the name is spelled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gptimg.batch.saved_files import SavedFiles


@pytest.mark.parametrize("compact", [False, True], ids=["names", "hashes"])
def test_the_listing_answers_as_isfile_does_for_every_spelling_and_kind_of_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compact: bool
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "plain.png").write_bytes(b"x")
    (out / "sub").mkdir()
    (out / "sub" / "deep.png").write_bytes(b"x")
    (tmp_path / "outside.png").write_bytes(b"x")
    os.symlink(tmp_path / "outside.png", out / "link-out.png")
    os.symlink(out / "plain.png", out / "link-in.png")
    os.symlink(tmp_path / "nowhere.png", out / "dangling.png")
    monkeypatch.chdir(tmp_path)
    base = str(out)
    names = [
        f"{base}/plain.png", f"{base}//plain.png", f"{base}/./plain.png", f"{base}/sub/../plain.png",
        "out/plain.png", f"{base}/plain.png/", f"{base}/", f"{base}/sub", f"{base}/sub/deep.png",
        f"{base}/link-out.png", f"{base}/link-in.png", f"{base}/dangling.png", f"{base}/gone.png",
        f"{base}/..", str(tmp_path / "outside.png"), f"{base}-twin/plain.png", "plain.png",
    ]
    listing = SavedFiles(out, compact=compact)
    for name in names:
        assert listing.has_file(name) == os.path.isfile(name), name
    plain = {name for name in names if listing.holds(name)}
    assert plain == {f"{base}/plain.png"}, "only a plain file right in the folder, spelled as saved, is answered"


def test_the_listing_is_taken_once_and_a_missing_folder_answers_nothing(tmp_path: Path) -> None:
    listing = SavedFiles(tmp_path / "not-yet")
    assert not listing.holds(str(tmp_path / "not-yet" / "a.png"))
    (tmp_path / "not-yet").mkdir()
    (tmp_path / "not-yet" / "a.png").write_bytes(b"x")
    assert not listing.holds(str(tmp_path / "not-yet" / "a.png"))  # as of the first question
    assert listing.has_file(str(tmp_path / "not-yet" / "a.png"))  # ... which the stat behind it corrects


def test_a_folder_spelled_through_dot_dot_is_listed_through_the_same_path_its_names_are_spelled_with(
    tmp_path: Path
) -> None:
    """``--out ../imgs`` from a linked folder: ``..`` is the kernel's (the link's target's parent), never the text's."""
    real = tmp_path / "real"
    (real / "imgs").mkdir(parents=True)
    (real / "cwd").mkdir()
    (real / "imgs" / "a.png").write_bytes(b"x")
    (tmp_path / "imgs").mkdir()  # what ``link/../imgs`` would be, read as text
    os.symlink(real / "cwd", tmp_path / "link")
    folder = tmp_path / "link" / ".." / "imgs"
    listing = SavedFiles(folder)
    assert listing.holds(f"{folder}/a.png") and os.path.isfile(f"{folder}/a.png")
    assert not listing.holds(str(tmp_path / "imgs" / "a.png"))

