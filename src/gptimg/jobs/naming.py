"""Names for saved images that are readable and can never escape the output folder.

Both the prompt and the job id are untrusted here (a prompt is anything a person
typed; a job id is whatever the server sent), so each is reduced to letters,
digits, ``-`` and ``_`` before it becomes part of a file name.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import unicodedata
from array import array
from pathlib import Path

from gptimg.digests import sha256_hex

STEM_MAX = 48
_UNSAFE = re.compile(r"[^\w]+", re.UNICODE)
_SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def slugify(text: str, *, max_length: int = STEM_MAX, fallback: str = "image") -> str:
    """``"A Shiba Inu, under cherry blossoms!"`` -> ``"a-shiba-inu-under-cherry-blossoms"``."""
    text = unicodedata.normalize("NFKC", text).replace("\x00", "").lower()
    slug = _UNSAFE.sub("-", text).strip("-_")
    slug = slug[:max_length].rstrip("-_")
    return _nameable(slug).strip("-_") or fallback


def _nameable(text: str) -> str:
    """Only characters the file system's encoding can write (all of them on UTF-8; ASCII under ``LC_ALL=C``)."""
    import sys

    encoding = sys.getfilesystemencoding()
    return text.encode(encoding, "ignore").decode(encoding, "ignore")


def safe_job_id(job_id: str) -> str:
    if _SAFE_JOB_ID.match(job_id):
        return job_id
    return "job" + sha256_hex(job_id.encode("utf-8", "surrogatepass"))[:16]


def image_stem(label: str, job_id: str, index: int) -> str:
    """``<label-slug>-<job_id>-<index>``, the name without its extension."""
    return f"{slugify(label)}-{safe_job_id(job_id)}-{index}"


def inside(directory: Path, candidate: Path) -> bool:
    """True when ``candidate`` is directly in ``directory`` (after resolving links and dots).

    The usual candidate, ``directory / name`` with a plain name that is not a link,
    is answered with one ``lstat``: resolving both paths walked every component of
    each (~10 ``lstat`` calls, ~0.3 ms of CPU an image in a batch). Anything else
    (dots, separators, a link) is resolved as before.
    """
    if (candidate.parent == directory and candidate.name not in ("", ".", "..")
            and not os.path.islink(candidate)):
        return True
    return candidate.resolve().parent == directory.resolve()


def existing_image(directory: Path, job_id: str, index: int, label: str | None = None, *,
                   stem: str | None = None, other_labels: bool = True) -> Path | None:
    """An image saved earlier for this job and index, whatever label it was saved under.

    Any ``*-<job_id>-<index>[-N].<ext>`` whose bytes are an image counts; a file that
    merely has the name but not an image's bytes is someone else's: ignored. The
    names ``label`` gives are checked on disk first; other labels are looked up in a
    listing taken at most ``LISTING_REUSE_SECONDS`` ago (see ``_FolderListing``), so
    the cost per image does not grow with the folder.

    ``other_labels=False`` (with a ``label``): only the label's own names are looked
    for, and the folder is not listed. For a job submitted moments ago by the caller,
    no earlier run can have saved it under another label; a batch's first run kept a
    listing of a folder it was filling (~60 bytes a file, taken again every few
    seconds), a third of the growth of its peak memory from 500 lines to 5,000.
    """
    from gptimg.imagetypes import EXTENSION_FOR_TYPE

    if label is not None:
        stem = stem or image_stem(label, job_id, index)  # the caller's, when it has made it already
        folder = os.fspath(directory)
        for extension in EXTENSION_FOR_TYPE.values():
            # A str, not a Path, until found: pathlib interns every name it parses, and a batch's churn
            # of unique names once doubled the interpreter's table of interned strings (~0.5 MiB).
            if _is_image(os.path.join(folder, f"{stem}.{extension}")):
                return directory / f"{stem}.{extension}"
        if not other_labels:
            return None
    try:
        listing = _listing(directory)
    except OSError:  # no such folder (or not one): nothing saved there
        return None
    for name in listing.saved_as(f"-{safe_job_id(job_id)}-{index}"):
        if _is_image(directory / name):
            return directory / name
    return None


def _is_image(path: str | Path) -> bool:
    from gptimg.imagetypes import SNIFF_BYTES, sniff_image_type

    if not os.access(path, os.F_OK):  # the usual answer (four names probed an image), without an exception
        return False
    try:
        with open(path, "rb") as handle:
            return sniff_image_type(handle.read(SNIFF_BYTES)) is not None
    except OSError:  # absent, gone since the listing, a folder, unreadable: not an image we saved
        return False


def remember_saved(directory: Path, name: str) -> None:
    """Add a file this process just saved to the folder's listing, if one is held."""
    with _LISTINGS_LOCK:
        listing = _LISTINGS.get(str(directory))
        if listing is not None:
            listing.add(name)


#: How long one listing of an output folder answers ``existing_image``. Listing and
#: matching the whole folder for every image made a batch quadratic (a 20,000-file
#: folder cost ~20 ms per image); one listing per folder every few seconds keeps the
#: per-image cost flat. Files this process saves are added as they land; a file
#: another process saves meanwhile is at worst downloaded once more, under a new name
#: (nothing is ever overwritten: see ``download._claim_final_name``).
LISTING_REUSE_SECONDS = 5.0
_COLLISION_NUMBER = re.compile(r"-\d+$")
_LISTINGS: dict[str, _FolderListing] = {}
_LISTINGS_LOCK = threading.Lock()


def _stem(name: str) -> str:
    """``Path(name).stem`` without building a Path (this runs for every file of a folder)."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def _tail_key(stem: str) -> str:
    """The last two ``-``-separated fields: ``…-<job id's last field>-<index>``, all a suffix ever fixes."""
    return "-".join(stem.rsplit("-", 2)[-2:])


class _FolderListing:
    """The non-hidden names of one folder, findable by the tail a saved image's stem ends with.

    Packed, not a dict of strings: the names sit one after another in one ``bytearray``
    (NUL-terminated: no file name holds a NUL), and an open-addressing table of two
    ``array``s maps the 31-bit hash of each tail (a name sits under one or two) to where
    its name starts. ~25 bytes a name plus the name itself, in a few large blocks: a dict
    of str (~300 bytes a name, and every name interned by ``pathlib``) made the listing
    of a 5,000-file folder ~2 MiB of a batch's peak and grew with the folder.
    """

    def __init__(self, directory: Path) -> None:
        self.taken_at = time.monotonic()
        self._names = bytearray()
        self._used = 0
        # The folder's entries first (hash and start, two array items each), then a table sized for all of
        # them at once: growing it step by step re-filed every entry six times for 20,000 files.
        filed = array("q")
        with os.scandir(directory) as entries:
            for entry in entries:
                self._file_name(entry.name, filed)
        slots = _FIRST_SLOTS
        while 3 * (len(filed) // 2) + 3 > 2 * slots:
            slots *= 2
        self._hashes = array("i", bytes(4 * slots))
        self._starts = array("I", bytes(4 * slots))
        for at in range(0, len(filed), 2):
            self._insert(filed[at], filed[at + 1])

    def add(self, name: str) -> None:
        filed = array("q")
        self._file_name(name, filed)
        for at in range(0, len(filed), 2):
            self._insert(filed[at], filed[at + 1])

    def _file_name(self, name: str, filed: array[int]) -> None:
        """Append ``name`` to the packed names, and (hash, start) to ``filed`` for each tail it is found by."""
        if name[:1] == ".":
            return
        stem = _stem(name)
        tail = _tail_key(stem)
        start = len(self._names)
        self._names += name.encode(_FS_ENCODING, _FS_ERRORS) + b"\0"  # os.fsencode, without its wrapper
        filed.append(_slot_hash(tail))
        filed.append(start)
        numbered = _COLLISION_NUMBER.search(stem)
        if numbered:  # ``<stem>-<job>-<index>-2``: a clash-renamed copy
            other = _tail_key(stem[: numbered.start()])
            if other != tail:
                filed.append(_slot_hash(other))
                filed.append(start)

    def saved_as(self, suffix: str) -> list[str]:
        """Names whose stem is ``…<suffix>`` or ``…<suffix>-N``, in name order."""
        found = set()
        for start in self._starts_under(_slot_hash(_tail_key(suffix))):
            name = bytes(self._names[start:self._names.index(0, start)]).decode(_FS_ENCODING, _FS_ERRORS)
            stem = _stem(name)
            numbered = _COLLISION_NUMBER.search(stem)
            if stem.endswith(suffix) or (numbered and stem[: numbered.start()].endswith(suffix)):
                found.add(name)
        return sorted(found)

    def _starts_under(self, wanted: int) -> list[int]:
        """Where the names filed under hash ``wanted`` start (a hash shared by two tails: the caller re-checks)."""
        mask = len(self._hashes) - 1
        slot = wanted & mask
        starts = []
        while self._hashes[slot]:
            if self._hashes[slot] == wanted:
                starts.append(self._starts[slot])
            slot = (slot + 1) & mask
        return starts

    def _insert(self, tail_hash: int, start: int) -> None:
        hashes = self._hashes
        if 3 * self._used + 3 > 2 * len(hashes):
            self._grow()
            hashes = self._hashes
        mask = len(hashes) - 1
        slot = tail_hash & mask
        while hashes[slot]:
            slot = (slot + 1) & mask
        hashes[slot] = tail_hash
        self._starts[slot] = start
        self._used += 1

    def _grow(self) -> None:
        hashes, starts = self._hashes, self._starts
        self._hashes = array("i", bytes(8 * len(hashes)))
        self._starts = array("I", bytes(8 * len(hashes)))
        self._used = 0
        for slot, tail_hash in enumerate(hashes):
            if tail_hash:
                self._insert(tail_hash, starts[slot])


#: Slots a new listing starts with (doubled whenever two thirds are taken).
_FIRST_SLOTS = 1024
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def _slot_hash(tail: str) -> int:
    """The tail's hash in 31 bits, never 0 (0 marks a free slot); names under a shared hash are re-checked."""
    return (hash(tail) & 0x7FFFFFFF) or 1


def _listing(directory: Path) -> _FolderListing:
    key = str(directory)
    with _LISTINGS_LOCK:
        listing = _LISTINGS.get(key)
        now = time.monotonic()
        if listing is None or now - listing.taken_at > LISTING_REUSE_SECONDS:
            for stale in [k for k, v in _LISTINGS.items() if now - v.taken_at > LISTING_REUSE_SECONDS]:
                del _LISTINGS[stale]
            listing = _LISTINGS[key] = _FolderListing(directory)
        return listing
