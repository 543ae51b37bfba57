"""Where ``-o/--out`` puts a job's images: a folder, a file, or a name pattern.

Every image CLI people know treats ``-o cat.png`` as the file, so this module
decides, before anything is spent, what each image will be called:

- a folder (``-o pics``, ``-o .``, no ``-o``): automatic names
  (``<prompt-slug>-<job>-<i>.png``) that never overwrite anything;
- a file (``-o cat.png``): exactly that name; several images become
  ``cat-1.png``, ``cat-2.png``...;
- a pattern (``-o "{date}/{slug}-{i}.webp"`` is refused: placeholders go in the
  file name only, ``-o "out/{slug}-{i}.webp"``): ``{i}``, ``{job}``, ``{slug}``,
  ``{style}`` and ``{date}`` filled in per image.

A name the user chose that already exists is refused up front unless
``--overwrite``. The gateway sends PNG; a ``.jpg``/``.jpeg``/``.webp`` name is
converted with Pillow (the ``gptimg[convert]`` extra), and without Pillow the
command stops before the spend with the line that installs it. A file is never
saved under an extension that lies about its bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from gptimg import errors
from gptimg.jobs.naming import safe_job_id, slugify

if TYPE_CHECKING:  # annotations only
    from gptimg.gateway import GatewayClient
    from gptimg.jobs.download import SavedImage

PLACEHOLDERS = ("i", "job", "slug", "style", "date")
#: Extensions a file target may have, and the format each one is written in.
FORMAT_FOR_SUFFIX = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
MEDIA_FOR_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
#: Image extensions people may try that we cannot write: refused rather than taken for a folder name.
UNSUPPORTED_SUFFIXES = (".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".jxl", ".svg", ".ico")
PILLOW_INSTALL = "pip install 'gptimg[convert]'  (or: pip install Pillow)"
JOB_PLACEHOLDER_SHOWN = "<job>"


def _placeholders(name: str) -> list[str]:
    """The placeholder names in ``name``; a malformed brace is a usage error."""
    if "{" not in name and "}" not in name:
        return []  # what the parser says of a name without braces; ``string`` costs 3.7 M instructions to import
    import string

    try:
        parsed = list(string.Formatter().parse(name))
    except ValueError as exc:
        raise errors.UsageError(
            f"--out {name!r} is not a valid pattern ({exc}).",
            hint="Placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + "; write {{ for a brace.",
        ) from None
    return [field for _, field, _, _ in parsed if field is not None]


@dataclass(frozen=True)
class OutputTarget:
    """The resolved ``--out``: a folder, plus a file-name pattern when the user named the files."""

    directory: Path
    #: The file-name part (``cat.png``, ``{slug}-{i}.webp``); None means automatic names.
    pattern: str | None = None
    overwrite: bool = False

    @property
    def named(self) -> bool:
        return self.pattern is not None

    @property
    def image_format(self) -> str:
        """``PNG``, ``JPEG`` or ``WEBP``: what the bytes on disk will be."""
        if self.pattern is None:
            return "PNG"
        return FORMAT_FOR_SUFFIX[Path(self.pattern).suffix.lower()]

    def spec(self) -> str:
        """What the journal keeps, so ``gptimg result`` later saves where ``generate`` meant to."""
        return str(self.directory / self.pattern) if self.pattern else str(self.directory)

    def name_for(self, index: int, count: int, *, job_id: str | None, label: str, style: str | None,
                 today: date | None = None) -> str:
        """The file name of image ``index`` (1-based) of ``count``."""
        assert self.pattern is not None
        pattern = self.pattern
        fields = _placeholders(pattern)
        if count > 1 and "i" not in fields:
            stem, suffix = os.path.splitext(pattern)
            pattern = f"{stem}-{{i}}{suffix}"
        values = {
            "i": index,
            "job": safe_job_id(job_id) if job_id else JOB_PLACEHOLDER_SHOWN,
            "slug": slugify(label),
            "style": slugify(style or "none"),
            "date": (today or date.today()).isoformat(),
        }
        return pattern.format_map(values)

    def planned_paths(self, count: int, *, label: str, style: str | None, job_id: str | None = None) -> list[Path]:
        """The files a job of ``count`` images would write (automatic names show ``<job>``)."""
        if self.pattern is None:
            stem = f"{slugify(label)}-{safe_job_id(job_id) if job_id else JOB_PLACEHOLDER_SHOWN}"
            return [self.directory / f"{stem}-{i}.png" for i in range(1, count + 1)]
        return [
            self.directory / self.name_for(i, count, job_id=job_id, label=label, style=style)
            for i in range(1, count + 1)
        ]

    def refuse_existing(self, count: int, *, label: str, style: str | None) -> None:
        """Before any spend: a chosen name that exists stops here unless ``--overwrite``.

        Names with ``{job}`` cannot exist yet (the job is new); they are checked again at save time.
        """
        if self.pattern is None or self.overwrite or "job" in _placeholders(self.pattern):
            return
        taken = [path for path in self.planned_paths(count, label=label, style=style) if path.exists()]
        if taken:
            raise errors.BadInput(
                f"{taken[0]} already exists; nothing was sent or spent.",
                code="output_exists",
                hint="Add --overwrite to replace it, or pick another name with -o.",
            )

    def require_converter(self) -> None:
        """Before any spend: a JPEG or WebP target needs Pillow."""
        if self.image_format != "PNG" and not pillow_available():
            raise errors.BadInput(
                f"Saving as {Path(self.pattern or '').suffix} needs Pillow, which is not installed; nothing was spent.",
                code="converter_missing",
                hint=f"Install it: {PILLOW_INSTALL}; or save as .png.",
            )


def pillow_available() -> bool:
    """Whether Pillow can be imported (only asked for .jpg/.webp targets, so nobody else pays for it)."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _check_writable(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise errors.BadInput(f"--out {directory} exists and is not a folder.", code="output_not_writable")
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise errors.BadInput(
            f"Cannot write into {probe}.", code="output_not_writable", hint="Pick another folder with --out DIR."
        )


def parse_target(raw: str | None, *, fallback: str | None = None, overwrite: bool = False) -> OutputTarget:
    """``--out`` (or the journal's ``fallback``, or here) as an absolute, checked target; spends nothing."""
    text = raw or fallback or "."
    path = Path(text).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    name = path.name
    suffix = Path(name).suffix.lower()
    pattern: str | None = None
    if _placeholders(str(path.parent)):
        raise errors.UsageError(
            f"--out {text!r}: placeholders go in the file name, not in the folder.",
            hint="For example: -o 'pictures/{slug}-{i}.png'",
        )
    fields = _placeholders(name)
    unknown = [field for field in fields if field not in PLACEHOLDERS]
    if unknown:
        raise errors.UsageError(
            f"--out {text!r}: unknown placeholder {{{unknown[0]}}}.",
            hint="Placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
        )
    trailing_slash = text.endswith(("/", os.sep))
    if fields or (suffix in FORMAT_FOR_SUFFIX and not path.is_dir() and not trailing_slash):
        pattern = name if suffix in FORMAT_FOR_SUFFIX else name + ".png"
        path = path.parent
    elif suffix in UNSUPPORTED_SUFFIXES and not path.is_dir():
        raise errors.UsageError(
            f"Cannot save images as {suffix}: the gateway sends PNG, and gptimg writes .png, .jpg or .webp.",
            hint=f"Use -o {Path(name).stem}.png (or .jpg/.webp with Pillow).",
        )
    _check_writable(path)
    return OutputTarget(directory=path, pattern=pattern, overwrite=overwrite)


# --- saving into a named target ---------------------------------------------------------------


def _convert(source: Path, image_format: str, directory: Path) -> Path:
    """Re-encode ``source`` (whatever the gateway sent) as ``image_format`` into a hidden temp file."""
    from PIL import Image

    fd, temp_name = tempfile.mkstemp(prefix=".gptimg-convert-", suffix=".part", dir=directory)
    os.close(fd)
    with Image.open(source) as image:
        options: dict[str, Any] = {}
        if image_format == "JPEG":
            image = image.convert("RGB")  # JPEG has no alpha
            options["quality"] = 92
        elif image_format == "WEBP":
            options["quality"] = 92
        from gptimg.provenance_xmp import save_options_from_png

        options.update(save_options_from_png(source))  # the PNG's generation record, as XMP and EXIF
        image.save(temp_name, format=image_format, **options)
    with open(temp_name, "rb+") as handle:
        os.fsync(handle.fileno())
    return Path(temp_name)


def _place(temp: Path, final: Path, overwrite: bool) -> Path:
    """Move ``temp`` to ``final``; without ``overwrite`` an existing file is kept and a ``-2`` name used."""
    from gptimg.jobs.download import _claim_final_name

    if overwrite:
        os.replace(temp, final)
        return final
    return _claim_final_name(final.parent, final.stem, final.suffix.lstrip("."), temp)


def _true_suffix(path: Path) -> str:
    from gptimg.imagetypes import EXTENSION_FOR_TYPE, SNIFF_BYTES, sniff_image_type

    with path.open("rb") as handle:
        media = sniff_image_type(handle.read(SNIFF_BYTES))
    return "." + EXTENSION_FOR_TYPE.get(media or "", "png")


def _finish_one(downloaded: Path, final: Path, target: OutputTarget) -> Path:
    """Turn a downloaded file into ``final``, converting when the bytes are not what the name says."""
    true_suffix = _true_suffix(downloaded)
    wanted = FORMAT_FOR_SUFFIX[final.suffix.lower()]
    if FORMAT_FOR_SUFFIX.get(true_suffix) == wanted:
        return _place(downloaded, final, target.overwrite)
    if pillow_available():
        converted = _convert(downloaded, wanted, final.parent)
        try:
            return _place(converted, final, target.overwrite)
        finally:
            if converted.exists():
                converted.unlink()
    # No converter: keep the bytes under their true extension rather than a lying one.
    return _place(downloaded, final.with_suffix(true_suffix), target.overwrite)


def _saved_before(known: set[str], final: Path) -> Path | None:
    """A file this job saved earlier for ``final`` (maybe numbered ``-2`` or under its true suffix)."""
    numbered = re.compile(re.escape(final.stem) + r"(-\d+)?")
    for name in sorted(known):
        path = Path(name)
        if path.parent == final.parent and numbered.fullmatch(path.stem) and path.is_file():
            return path
    return None


def save_to_target(
    client: GatewayClient,
    job_id: str,
    items: list[dict[str, Any]],
    target: OutputTarget,
    label: str,
    *,
    style: str | None = None,
    known_files: list[str] | None = None,
    on_saved: Callable[[SavedImage], None] | None = None,
    deadline: float | None = None,
    stamp: Callable[[Path, int], None] | None = None,
) -> list[SavedImage]:
    """Download each image under its chosen name; files this job already saved there are reused.

    ``stamp`` writes the generation record into each PNG before any conversion, which carries it over.
    """
    from gptimg.jobs.download import SavedImage, prepare_output_dir, save_image

    directory = prepare_output_dir(target.directory, job_id)
    known = set(known_files or ())
    saved: list[SavedImage] = []
    for index, item in enumerate(items, start=1):
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise errors.DownloadFailed(f"Image {index} of job {job_id} has no URL.", job_id=job_id)
        final = directory / target.name_for(index, len(items), job_id=job_id, label=label, style=style)
        earlier = _saved_before(known, final)
        if earlier is not None:
            image = SavedImage(url, earlier, downloaded=False)
        else:
            downloaded = save_image(
                client, url, directory, f".gptimg-{safe_job_id(job_id)}-{index}", job_id, deadline=deadline,
                stamp=stamp, index=index,
            )
            try:
                image = SavedImage(url, _finish_one(downloaded, final, target), downloaded=True)
            finally:
                if downloaded.exists():
                    downloaded.unlink()
        if on_saved is not None:
            on_saved(image)
        saved.append(image)
    return saved
