"""Which images a batch already saved in its output folder: one listing of the folder, asked once per run.

A re-run of a finished 5,000-line batch asks "is this line's image still there?"
for every line, twice (the plan, then the contact sheet). One ``lstat`` or
``isfile`` per image was a fifth of that re-run; one ``scandir`` answers them all,
from the entry types the listing already carries (no ``stat`` where the file
system reports them). Only plain files count: a link, a folder of that name, a
name outside the folder or a name written another way is not answered here, and
the caller judges it the slow, exact way, as before.

The listing is taken on first use and never refreshed: it answers for the moment
the plan (or the sheet) is made, as the per-file checks it replaces did; the plan
and the sheet each take their own.

A file is held as its whole path, spelled as the batch spells the paths it saves,
so a question is one lookup, with no Python call per name. The contact sheet is
written with memory that does not grow with the batch, so its listing is
``compact``: the paths' 64-bit hashes, sorted in one ``array`` (8 bytes a file,
where a set of the names took ~290). A hash found stands for its path; two paths
sharing one (a chance of about one in 10^15 for a 5,000-file folder, with Python's
per-process hash key) would show a missing image as present on the page, nothing
more. The plan, which decides what is fetched, keeps the exact paths.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left
from collections.abc import Container, Iterable, Iterator
from pathlib import Path


class SavedFiles:
    """The regular files (not links) right in one folder, listed once."""

    def __init__(self, folder: Path | str, *, compact: bool = False) -> None:
        self.folder = Path(folder)
        # Spelled as the batch spells the names it saves (``--out`` made absolute, ``..`` left to the kernel),
        # so a name that starts with it is looked up through the very path the listing was read from.
        self.path = str(self.folder) if self.folder.is_absolute() else os.path.abspath(folder)
        #: What a name right in the folder starts with (the folder's own spelling and one separator).
        self._prefix = self.path if self.path.endswith(os.sep) else self.path + os.sep
        self._compact = compact
        self._paths: Container[str] | None = None
        self._real: Path | None = None

    def holds(self, name: str) -> bool:
        """True when ``name`` is a regular file directly in the folder; False when the listing cannot say so.

        False is not "missing": a link, a relative or unnormalised spelling, or a file
        created after the listing is for the caller to check on disk.
        """
        return name in self.paths()

    def paths(self) -> Container[str]:
        """The listing itself: each plain file's path spelled as the batch spells it (the folder's own spelling,
        one separator, the name). ``name in paths()`` is ``holds(name)`` without a call per name (a re-run asks
        for every line's files, twice)."""
        return self._paths if self._paths is not None else self._listed()

    def has_file(self, name: str) -> bool:
        """``os.path.isfile(name)``, answered from the listing when it can be (one ``stat`` otherwise)."""
        return self.holds(name) or os.path.isfile(name)

    def real_folder(self) -> Path:
        """The folder with every link resolved (once)."""
        if self._real is None:
            self._real = self.folder.resolve()
        return self._real

    def _listed(self) -> Container[str]:
        if self._paths is None:
            keep, prefix = _NameHashes if self._compact else frozenset, self._prefix
            try:
                with os.scandir(self.path) as entries:  # streamed: a list of the names would be the sheet's peak
                    self._paths = keep(prefix + entry.name for entry in entries if entry.is_file(follow_symlinks=False))
            except FileNotFoundError:  # no folder yet (a first run): every name is checked on disk
                self._paths = frozenset()
            except OSError:  # an entry whose type needed a stat that failed, or an unreadable folder
                self._paths = keep(prefix + name for name in _plain_files(self.path))
        return self._paths


class _NameHashes:
    """A set of strings kept as their sorted hashes (see the module's docstring)."""

    __slots__ = ("hashes",)

    def __init__(self, names: Iterable[str]) -> None:
        #: Sorted; a caller asking for thousands of names may search it itself (``name_hashes``).
        self.hashes = array("q", sorted(map(hash, names)))  # streamed in, never a list of the strings

    def __contains__(self, name: object) -> bool:
        wanted = hash(name)
        at = bisect_left(self.hashes, wanted)
        return at < len(self.hashes) and self.hashes[at] == wanted


def name_hashes(listing: Container[str]) -> array[int] | None:
    """A compact listing's sorted hashes (``name in listing`` is: ``hash(name)`` found in them), else None."""
    return listing.hashes if isinstance(listing, _NameHashes) else None


def _plain_files(folder: str) -> Iterator[str]:
    """The names of the regular files (not links) in ``folder``, an entry that cannot say counted as not one."""
    try:
        with os.scandir(folder) as entries:
            yield from (entry.name for entry in entries if _is_plain_file(entry))
    except OSError:  # not readable: every name is checked on disk
        return


def _is_plain_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False
