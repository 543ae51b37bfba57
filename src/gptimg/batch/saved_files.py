"""Which images a batch already saved in its output folder: one listing of the folder, asked once per run.

A re-run of a finished 5,000-line batch asks "is this line's image still there?"
for every line, twice (the plan, then the contact sheet). One ``lstat`` or
``isfile`` per image was a fifth of that re-run; one ``scandir`` answers them all,
from the entry types the listing already carries (no ``stat`` where the file
system reports them). Only plain files count: a link, a folder of that name, a
name outside the folder or a name written another way is not answered here, and
the caller judges it the slow, exact way, as before.

The listing is taken on first use and never refreshed: it answers for the moment
the plan (or the sheet) is made, as the per-file checks it replaces did.
"""

from __future__ import annotations

import os
from pathlib import Path


class SavedFiles:
    """The regular files (not links) right in one folder, listed once."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = os.path.abspath(folder)
        self._names: frozenset[str] | None = None
        self._real: Path | None = None

    def holds(self, name: str) -> bool:
        """True when ``name`` is a regular file directly in the folder; False when the listing cannot say so.

        False is not "missing": a link, a relative or unnormalised spelling, or a file
        created after the listing is for the caller to check on disk.
        """
        head, tail = os.path.split(name)
        if head != self.path:
            head, tail = os.path.split(os.path.abspath(name))
            if head != self.path:
                return False
        return tail in self._listed()

    def real_folder(self) -> Path:
        """The folder with every link resolved (once)."""
        if self._real is None:
            self._real = self.folder.resolve()
        return self._real

    def _listed(self) -> frozenset[str]:
        if self._names is None:
            try:
                with os.scandir(self.path) as entries:
                    self._names = frozenset(entry.name for entry in entries if _is_plain_file(entry))
            except OSError:  # no folder yet (a first run), or not readable: every name is checked on disk
                self._names = frozenset()
        return self._names


def _is_plain_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False
