"""Names for saved images that are readable and can never escape the output folder.

Both the prompt and the job id are untrusted here (a prompt is anything a person
typed; a job id is whatever the server sent), so each is reduced to letters,
digits, ``-`` and ``_`` before it becomes part of a file name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

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
    return "job" + hashlib.sha256(job_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def image_stem(label: str, job_id: str, index: int) -> str:
    """``<label-slug>-<job_id>-<index>``, the name without its extension."""
    return f"{slugify(label)}-{safe_job_id(job_id)}-{index}"


def inside(directory: Path, candidate: Path) -> bool:
    """True when ``candidate`` is directly in ``directory`` (after resolving links and dots)."""
    return candidate.resolve().parent == directory.resolve()


def existing_image(directory: Path, job_id: str, index: int) -> Path | None:
    """An image saved earlier for this job and index, whatever label it was saved under.

    A file that merely has the name but not an image's bytes is someone else's: ignored.
    """
    from gptimg.imagetypes import SNIFF_BYTES, sniff_image_type

    if not directory.is_dir():
        return None
    suffix = f"-{safe_job_id(job_id)}-{index}"
    for path in sorted(directory.iterdir()):
        stem = path.stem
        if (stem.endswith(suffix) or re.search(re.escape(suffix) + r"-\d+$", stem)) and path.is_file():
            if not path.name.startswith("."):
                with path.open("rb") as handle:
                    if sniff_image_type(handle.read(SNIFF_BYTES)) is not None:
                        return path
    return None
