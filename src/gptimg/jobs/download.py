"""Saving a finished job's images: concurrent, streamed, atomic, never overwriting.

Each image streams into a hidden temporary file in the output folder and is
renamed to its final name only once complete and checked to be an image, so a
cut-off download never sits under a real name. Existing files are never replaced:
a clash gets ``-2``, ``-3``... appended.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, cast

from gptimg import errors
from gptimg.image_tool import MAX_IMAGES
from gptimg.imagetypes import EXTENSION_FOR_TYPE, SNIFF_BYTES, sniff_image_type
from gptimg.jobs.naming import existing_image, image_stem, inside, remember_saved
from gptimg.jobs.stampstream import StampingWriter
from gptimg.jobs.writeback import EarlyWriteback

if TYPE_CHECKING:  # annotations only
    from gptimg.gateway import GatewayClient
    from gptimg.gateway.answers import DownloadInfo

#: An image bigger than this is not what the model makes.
MAX_IMAGE_BYTES = 256 * 1024 * 1024
MAX_PARALLEL_DOWNLOADS = 4
#: A hidden partial file untouched this long belongs to no live download: each download ends
#: (retries included) within the client's DOWNLOAD_TOTAL_SECONDS, and writes as bytes arrive.
STALE_PARTIAL_SECONDS = 30 * 60
PARTIAL_SUFFIX = ".part"
#: Downloads get at least this long, even when the caller's --timeout has (almost) run out.
MIN_DOWNLOAD_SECONDS = 30.0
PROBE_PREFIX = ".gptimg-probe-"
#: The partial file's buffer, given explicitly (no ``isatty`` ioctl to choose one): a typical image's
#: small writes (its head, the inserted provenance chunks, each chunk's header) go out as one.
WRITE_BUFFER_BYTES = 64 * 1024


@dataclass(frozen=True)
class SavedImage:
    """One image of a job on disk: where it came from and where it is."""

    url: str
    path: Path
    downloaded: bool  # False when an earlier run had already saved it


_PROBED: set[str] = set()


def prepare_output_dir(out_dir: Path, job_id: str) -> Path:
    """Make ``out_dir`` and prove it writable before a byte is downloaded: once per folder and process.

    A batch saves thousands of images into one folder; probing it with a temporary file
    per image cost three system calls each (about a tenth of a batch's CPU), and making it
    two more. A folder that stops being writable later fails at ``save_image``'s own
    temporary file, in the same words; one removed meanwhile is made again there.
    """
    try:
        key = os.path.abspath(out_dir)
        with _SWEPT_LOCK:
            probed = key in _PROBED
        if not probed:
            out_dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=out_dir, prefix=PROBE_PREFIX, delete=True)
            probe.close()
            with _SWEPT_LOCK:
                _PROBED.add(key)
        remove_stale_partials(out_dir)
    except OSError as exc:
        raise errors.OutputNotWritable(
            f"Cannot write to {out_dir}: {exc.strerror or exc}",
            job_id=job_id,
            hint=f"Pick another folder; the job is kept: gptimg result {job_id} --out DIR",
        ) from None
    return out_dir


_SWEPT: set[str] = set()
_SWEPT_LOCK = threading.Lock()


def remove_stale_partials(directory: Path, *, older_than: float = STALE_PARTIAL_SECONDS) -> list[Path]:
    """Delete the hidden partial files a killed download left in ``directory``; once per process.

    Only our own names (``.<stem>-XXXX.part``, ``.gptimg-probe-XXXX``) and only those
    untouched for ``older_than`` seconds, so a download running in another process,
    whose file changes as its bytes arrive, is never touched. Once per folder and
    process: a batch saving thousands of images into one folder lists it once.
    """
    key = os.path.abspath(directory)
    with _SWEPT_LOCK:
        if key in _SWEPT:
            return []
        _SWEPT.add(key)
    removed: list[Path] = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or not (name.endswith(PARTIAL_SUFFIX) or name.startswith(PROBE_PREFIX)):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def asked_items(items: list[dict[str, Any]], n: int | None, job_id: str,
                notice: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """At most the ``n`` images the job asked for (never more than ``MAX_IMAGES``), saying so when cut.

    A gateway that lists more items than were paid for must not make us download
    (and journal) thousands of files.
    """
    wanted = min(n, MAX_IMAGES) if isinstance(n, int) and n > 0 else MAX_IMAGES
    if len(items) <= wanted:
        return items
    if notice is not None:
        notice(f"Job {job_id} listed {len(items)} images but {wanted} were asked for; saving the first {wanted}.")
    return items[:wanted]


_FILE_MODE: int | None = None


def _new_file_mode() -> int:
    """The mode a plainly created file gets here (0o666 less the umask), read once (for the
    no-hard-links fallback, where the finished file may be a copy that needs it said again)."""
    global _FILE_MODE
    if _FILE_MODE is None:
        umask = os.umask(0o022)
        os.umask(umask)
        _FILE_MODE = 0o666 & ~umask
    return _FILE_MODE


def _plain_name(name: str) -> bool:
    """A single path component that names an entry of the folder itself (no separator, not ``.``/``..``)."""
    return name not in ("", ".", "..") and "/" not in name and not (os.altsep and os.altsep in name) \
        and os.sep not in name and "\0" not in name


def _claim_final_name(directory: Path, stem: str, extension: str, temp: str) -> Path:
    """Move ``temp`` to ``stem.extension`` without replacing anything that exists."""
    for attempt in range(1, 1000):
        name = f"{stem}.{extension}" if attempt == 1 else f"{stem}-{attempt}.{extension}"
        if not _plain_name(name):
            raise errors.InvalidResponse(f"Refusing a file name outside the output folder: {name!r}")
        final = directory / name
        try:
            # link() never follows or replaces what is at ``final`` (a file, a link): it fails with
            # EEXIST, so a plain name cannot land outside the folder and no lstat is needed first.
            os.link(temp, final)
        except FileExistsError:
            continue
        except OSError:
            # No hard links here (some network or FAT filesystems): check-then-rename instead.
            if not inside(directory, final):
                raise errors.InvalidResponse(f"Refusing a file name outside the output folder: {name!r}") from None
            if final.exists():
                continue
            os.replace(temp, final)
            return final
        os.unlink(temp)
        return final
    raise errors.InvalidResponse(f"Too many files named {stem}.* already exist.")


#: ``stamp(path, index)``: writes provenance into a finished PNG before it gets its final name. A stamp
#: that rewrites the file leaves the new one fsynced (``provenance.stamp_png`` does), so the download is
#: not fsynced first: that would write a 128 MiB image to disk twice (0.2 s each here). A stamp with a
#: ``chunks(index)`` attribute (``provenance.png_stamper``) is inserted while the image streams instead.
Stamp = Callable[[Path, int], None]


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _download(
    client: GatewayClient, url: str, sink: IO[bytes], stamp: Stamp | None, index: int, deadline: float | None,
) -> tuple[DownloadInfo, bool, bytes]:
    """Stream ``url`` into ``sink``: its answer, True when the provenance chunks went in on the way
    (``jobs.stampstream``), and the file's first ``SNIFF_BYTES`` bytes.

    The disk writes while the bytes arrive (``jobs.writeback``), except when a stamp will
    rewrite the file afterwards anyway.
    """
    chunks = getattr(stamp, "chunks", None)
    writeback = EarlyWriteback(sink, step=None if stamp is None or chunks is not None else MAX_IMAGE_BYTES + 1,
                               head_bytes=SNIFF_BYTES)
    stamping = StampingWriter(cast(IO[bytes], writeback), chunks(index)) if chunks is not None else None
    try:
        info = client.download(url, cast(IO[bytes], stamping or writeback), max_bytes=MAX_IMAGE_BYTES,
                               deadline=deadline)
        if stamping is not None:
            stamping.finish()
        sink.flush()
    finally:
        writeback.stop()
    return info, stamping is not None and stamping.stamped, writeback.head


def save_image(
    client: GatewayClient, url: str, directory: Path, stem: str, job_id: str, deadline: float | None = None, *,
    stamp: Stamp | None = None, index: int = 1,
) -> Path:
    try:
        fd, temp_name = _partial_file(directory, stem)
    except OSError as exc:  # nothing downloaded yet: the folder went away or stopped taking files
        raise errors.OutputNotWritable(
            f"Cannot write to {directory}: {exc.strerror or exc}",
            job_id=job_id,
            hint=f"Pick another folder; the job is kept: gptimg result {job_id} --out DIR",
        ) from None
    # A str, not a Path: pathlib interns every name it parses, and a unique name an image (dropped a moment
    # later) churned the interpreter's table of interned strings until it doubled (~0.5 MiB, once, a few
    # thousand images into a batch: the late step in its peak memory).
    temp = temp_name
    claimed = False
    try:
        # Write-only and buffered: "w+b" (BufferedRandom) cost three more lseek calls an image.
        with open(fd, "wb", buffering=WRITE_BUFFER_BYTES) as sink:
            try:
                info, stamped, head = _download(client, url, sink, stamp, index, deadline)
            except errors.GptimgError as exc:
                raise errors.DownloadFailed(f"Could not download image {stem}: {exc.message}", job_id=job_id) from None
            media = sniff_image_type(head)
            if media is None:
                raise errors.DownloadFailed(
                    f"The file at {url} is not an image ({info.content_type or 'no type given'}).", job_id=job_id
                )
            rewrite = stamp is not None and media == "image/png" and not stamped
            if rewrite:
                downloaded = os.fstat(sink.fileno()).st_ino
            else:
                os.fsync(sink.fileno())
        if rewrite:
            assert stamp is not None
            stamp(Path(temp), index)
            if os.stat(temp).st_ino == downloaded:  # left as downloaded (not a PNG it could walk)
                _fsync_path(temp)
        if rewrite and os.name == "posix":  # the stamp's own temporary file replaced ours: 0600
            os.chmod(temp, _new_file_mode())
        final = _claim_final_name(directory, stem, EXTENSION_FOR_TYPE[media], temp)
        claimed = True  # the temporary name is gone: linked and unlinked, or renamed
        return final
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
            raise errors.OutputNotWritable(
                f"Cannot save into {directory}: {exc.strerror}",
                job_id=job_id,
                hint=f"Free space or pick another folder, then: gptimg result {job_id} --out DIR",
            ) from None
        raise
    finally:
        if not claimed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


#: The partial file's flags: new (never an existing file or a link planted under its name), write-only.
_PARTIAL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_partial_names = random.Random()
_PARTIAL_TRIES = 100


def _partial_file(directory: Path, stem: str) -> tuple[int, str]:
    """A new hidden ``.part`` file in ``directory`` (made again if it was removed since it was prepared).

    Created with the mode the finished image gets (0o666 less the umask), so no ``chmod``
    follows: ``mkstemp``'s 0600 needed one per image, and its ``fdopen`` two system calls
    more. The name is random and ``O_EXCL`` makes it ours; a clash (two processes forked
    with one generator state) draws another name.
    """
    for attempt in range(_PARTIAL_TRIES):
        name = os.path.join(directory, f".{stem[:40]}-{_partial_names.getrandbits(48):012x}{PARTIAL_SUFFIX}")
        try:
            return os.open(name, _PARTIAL_FLAGS, 0o666), name
        except FileExistsError:
            continue
        except FileNotFoundError:
            if attempt:
                raise
            directory.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(errno.EEXIST, "No unused name for a partial file", os.fspath(directory))


def save_job_images(
    client: GatewayClient,
    job_id: str,
    items: list[dict[str, Any]],
    out_dir: Path,
    label: str,
    *,
    on_saved: Callable[[SavedImage], None] | None = None,
    deadline: float | None = None,
    stamp: Stamp | None = None,
    new_job: bool = False,
) -> list[SavedImage]:
    """Download every item of a done job into ``out_dir``; files saved before are reused.

    At most ``MAX_IMAGES`` items (callers cut to the job's own ``n`` with ``asked_items``);
    ``deadline`` (``time.monotonic``) bounds every download. ``new_job``: the caller
    submitted the job in this run, so only ``label``'s own names can hold it already
    (``existing_image``'s ``other_labels``); the folder is not listed.
    """
    directory = prepare_output_dir(out_dir, job_id)
    items = items[:MAX_IMAGES]
    if deadline is not None:
        # A job found done at the deadline (``--timeout 0`` checks once) still gets its images.
        deadline = max(deadline, time.monotonic() + MIN_DOWNLOAD_SECONDS)

    def one(index: int, item: dict[str, Any]) -> SavedImage:
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise errors.DownloadFailed(f"Image {index} of job {job_id} has no URL.", job_id=job_id)
        stem = image_stem(label, job_id, index)
        earlier = existing_image(directory, job_id, index, label, stem=stem, other_labels=not new_job)
        if earlier is not None:
            saved = SavedImage(url, earlier, downloaded=False)
        else:
            path = save_image(client, url, directory, stem, job_id, deadline, stamp=stamp, index=index)
            saved = SavedImage(url, path, True)
            remember_saved(directory, path.name)
        if on_saved is not None:
            on_saved(saved)
        return saved

    numbered = list(enumerate(items, start=1))
    if len(numbered) == 1:
        return [one(*numbered[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_DOWNLOADS, len(numbered))) as pool:
        futures = [pool.submit(one, index, item) for index, item in numbered]
        return [future.result() for future in futures]
