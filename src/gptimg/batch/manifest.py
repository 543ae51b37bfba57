"""Reading a batch manifest (JSONL or CSV, a file or stdin) and checking every line before any spend.

All problems are collected, each naming its line number, so a person fixes the
whole file in one go instead of paying for half a batch and then hitting line 731.
Each line gets a stable key (its ``name``, else a hash of what it asks for); the
journal stores it so a re-run finds what it already paid for.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, Any, Callable, NamedTuple

from gptimg import errors
from gptimg.digests import sha256_hex
from gptimg.params import check_n, check_prompt, check_size, check_style
from gptimg.references import check_references, split_reference_list

FIELDS = ("prompt", "style", "size", "n", "refs", "name")
_FIELD_SET = frozenset(FIELDS)
_SCAN_JSON = json.JSONDecoder().scan_once
#: A name becomes a journal key and part of a file name; longer than this is a mistake.
MAX_NAME_CHARS = 200
#: The error message lists at most this many problems; ``details["errors"]`` has them all.
MAX_LISTED_ERRORS = 30
_REMOTE_PREFIXES = ("http://", "https://", "data:", "f_")


class ManifestError(errors.BadInput):
    """The manifest cannot be run as it is; nothing was sent or spent."""

    code = "invalid_manifest"
    hint = "Fix the lines named above and run the batch again; nothing was spent."


class ManifestLine(NamedTuple):
    """One validated line. ``refs`` are as checked (local paths made absolute), not yet uploaded.

    A NamedTuple, not a frozen dataclass: a batch makes one per line when it checks
    the manifest and again each time it reads a line back from its spilled copy
    (``manifest_spill``), two or three times per line in a re-run. A frozen
    dataclass's ``__init__`` (a ``setattr`` per field) and ``__dict__`` made that a
    fifth of a re-run's per-line work; a tuple is built from the record in one call.
    """

    line: int
    key: str
    prompt: str
    size: str
    n: int
    style: str | None = None
    refs: tuple[str, ...] = ()
    name: str | None = None

    @property
    def label(self) -> str:
        """What file names are made from, as ``generate`` does: the name when given, else the prompt."""
        return self.name or self.prompt


#: An absent optional field's value: its check's default (which cannot fail), made once, not once a line.
_DEFAULT_SIZE, _DEFAULT_N, _DEFAULT_STYLE = check_size(None), check_n(None), check_style(None)
_NEW_TUPLE = tuple.__new__


@dataclass(frozen=True)
class LineProblem:
    """One thing wrong with one line (a docstring: without one, ``dataclasses`` loads ``inspect`` to write it)."""

    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.message}


def content_key(prompt: str, style: str | None, size: str, n: int, refs: tuple[str, ...]) -> str:
    """The key of an unnamed line: the same request always hashes the same, across runs and machines."""
    canonical = json.dumps(
        {"prompt": prompt, "style": style, "size": size, "n": n, "refs": list(refs)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return sha256_hex(canonical.encode("utf-8", "surrogatepass"))[:16]  # built in: no OpenSSL to load


def read_source(source: str) -> tuple[Iterator[str], Path]:
    """The manifest's text, read once, one line at a time (split after each newline byte), and the
    folder relative reference paths are resolved against.

    Streamed, so a 5,000-line manifest is never held whole (with every line's dict and checked
    line beside it); the batch keeps what it validated (``manifest_spill.py``), never the file again.
    """
    if source == "-":
        return _decoded(sys.stdin.buffer, source, close=False), Path.cwd()
    path = Path(source).expanduser()
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed by _decoded)
    except OSError as exc:
        raise ManifestError(
            f"Cannot read the manifest {source}: {exc.strerror or exc}", hint="Check the path."
        ) from None
    return _decoded(handle, source, close=True), path.resolve().parent


def _decoded(handle: IO[bytes], source: str, *, close: bool) -> Iterator[str]:
    """Each newline-ended piece of ``handle`` as UTF-8 text (a BOM first is dropped), as ``utf-8-sig`` would."""
    offset = 0
    try:
        for number, raw in enumerate(handle):
            if number == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ManifestError(f"The manifest is not UTF-8 text (byte {offset + exc.start}).") from None
            offset += len(raw)
            yield text
    except OSError as exc:
        raise ManifestError(f"Cannot read the manifest {source}: {exc.strerror or exc}", hint="Check the path.") from None
    finally:
        if close:
            handle.close()


def with_format(source: str, fmt: str | None, chunks: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The manifest's format (given, else ``detect_format``'s, from the first line that is not blank) and its text."""
    if fmt is not None:
        return fmt, chunks
    held: list[str] = []
    first_line = ""
    for chunk in chunks:
        held.append(chunk)
        first_line = next((line for line in chunk.splitlines() if line.strip()), "")
        if first_line:
            break
    return detect_format(source, first_line), chain(held, chunks)


def detect_format(source: str, text: str) -> str:
    """``jsonl``, ``csv`` or ``txt``: by extension, else by content (stdin).

    Content: a ``{`` first is JSONL; a first line that is a CSV header naming ``prompt``
    is CSV; anything else is plain text, one prompt per line.
    """
    suffix = Path(source).suffix.lower() if source != "-" else ""
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".txt":
        return "txt"
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if first_line.lstrip()[:1] == "{":
        return "jsonl"
    header = [cell.strip().lower() for cell in first_line.split(",")]
    return "csv" if "prompt" in header and all(cell in FIELDS for cell in header) else "txt"


def _numbered(chunks: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Every line with its number, split as ``str.splitlines`` splits the whole text."""
    number = 0
    for chunk in chunks:
        for raw in chunk.splitlines():
            number += 1
            yield number, raw


def _txt_rows(chunks: Iterable[str], problems: list[LineProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """One prompt per line, verbatim apart from the line's outer spaces; blank lines and ``#`` comments skipped."""
    for number, raw in _numbered(chunks):
        prompt = raw.strip()
        if prompt and not prompt.startswith("#"):
            yield number, {"prompt": prompt}


def _json_value(raw: str) -> Any:
    """``json.loads(raw)``, in one call to the C scanner for the usual line (a value and nothing around it).

    Anything else (spaces around it, a second value, a BOM, an error) goes to ``json.loads``
    itself, so what is accepted, and every error's wording, stay exactly its own.
    """
    try:
        value, end = _SCAN_JSON(raw, 0)
        if end == len(raw):
            return value
    except (ValueError, StopIteration):
        pass
    return json.loads(raw)


def _jsonl_rows(chunks: Iterable[str], problems: list[LineProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in _numbered(chunks):
        if not raw.strip():
            continue
        try:
            value = _json_value(raw)
        except ValueError as exc:
            problems.append(LineProblem(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            problems.append(LineProblem(number, "each line must be a JSON object like {\"prompt\": \"...\"}"))
            continue
        yield number, value


def _csv_rows(chunks: Iterable[str], problems: list[LineProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    import csv  # a CSV manifest's only: JSONL and plain text never load it

    # Each piece split as one StringIO of the whole text would split it (at \r, \n or \r\n, kept).
    reader = csv.reader(piece for chunk in chunks for piece in io.StringIO(chunk, newline=""))
    header: list[str] | None = None
    header_line = 0
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                header_line = start
                unknown = [column for column in header if column not in FIELDS]
                if unknown or "prompt" not in header:
                    problems.append(LineProblem(
                        start,
                        "the CSV header must name the columns: prompt (required), " + ", ".join(FIELDS[1:])
                        + (f"; unknown: {', '.join(repr(c) for c in unknown)}" if unknown else ""),
                    ))
                    return
                continue
            if len(cells) > len(header):
                problems.append(LineProblem(start, f"{len(cells)} cells but the header on line {header_line} "
                                                   f"names {len(header)} columns (quote cells that contain commas)"))
                continue
            yield start, {column: cell for column, cell in zip(header, cells) if cell.strip() != ""}
    except csv.Error as exc:
        problems.append(LineProblem(reader.line_num, f"CSV error: {exc}"))
    if header is None:
        problems.append(LineProblem(1, "the CSV has no header row (prompt,style,size,n,refs,name)"))


def _resolve_ref(ref: str, base: Path) -> str:
    """A relative file path is relative to the manifest's folder, so a manifest works from any cwd."""
    ref = ref.strip()
    if ref.startswith(_REMOTE_PREFIXES) or "://" in ref:
        return ref
    path = Path(os.path.expanduser(ref))
    return str(path if path.is_absolute() else base / path)


def _refs_of(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return split_reference_list(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item for item in value if item.strip()]
    raise errors.InvalidArguments("refs must be a list of strings or one comma-separated string")


def _attempt(problems: list[LineProblem], number: int, check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, or None with its error added to ``problems`` under line ``number``."""
    try:
        return check(*args)
    except errors.GptimgError as exc:
        # The check's own hint (a style suggestion, the valid sizes) belongs with its line.
        specific = exc.hint if exc.hint and exc.hint != type(exc).hint else ""
        problems.append(LineProblem(number, f"{exc.message} {specific}".strip()))
        return None


def _check_line(number: int, fields: dict[str, Any], base: Path) -> tuple[ManifestLine | None, list[LineProblem]]:
    problems: list[LineProblem] = []
    if not _FIELD_SET.issuperset(fields):
        unknown = sorted(set(fields) - _FIELD_SET)
        problems.append(LineProblem(
            number, f"unknown field {', '.join(repr(k) for k in unknown)} (fields: {', '.join(FIELDS)})"
        ))
    if "prompt" not in fields:
        problems.append(LineProblem(number, "missing the required field 'prompt'"))
        prompt = None
    else:
        prompt = _attempt(problems, number, check_prompt, fields["prompt"])
    # An absent optional field is its check's default, which cannot fail: no _attempt around it.
    raw_size, raw_n, raw_style = fields.get("size"), fields.get("n"), fields.get("style")
    size = _DEFAULT_SIZE if raw_size is None else _attempt(problems, number, check_size, raw_size)
    n = _DEFAULT_N if raw_n is None else _attempt(problems, number, check_n, raw_n)
    style = _DEFAULT_STYLE if raw_style is None else _attempt(problems, number, check_style, raw_style)
    raw_refs = _attempt(problems, number, _refs_of, fields.get("refs")) if "refs" in fields else None
    refs: tuple[str, ...] = ()
    if raw_refs:
        resolved = [_resolve_ref(ref, base) for ref in raw_refs]
        # Checks existence, type and size now so a bad file never costs credits; the bytes are not kept.
        if _attempt(problems, number, lambda values: check_references(values, strict=True), resolved) is not None:
            refs = tuple(resolved)
    name = _check_name(problems, number, fields.get("name"))
    if problems or prompt is None or size is None or n is None:
        return None, problems
    # The key hashes the references as written, so moving the manifest folder keeps the keys.
    key = name or content_key(prompt, style, size, n, tuple(raw_refs or ()))
    # The tuple made directly: ManifestLine(...) runs its Python ``__new__`` (a frame per line).
    return _NEW_TUPLE(ManifestLine, (number, key, prompt, size, n, style, refs, name)), problems


def _check_name(problems: list[LineProblem], number: int, name: Any) -> str | None:
    if name is None:
        return None
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        name = str(name)
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped:
        problems.append(LineProblem(number, "name must be a non-empty string"))
        return None
    if len(stripped) > MAX_NAME_CHARS or "\x00" in name:
        problems.append(LineProblem(number, f"name must be at most {MAX_NAME_CHARS} characters, without NUL"))
        return None
    return stripped


def parse_manifest(text: str, *, fmt: str, base: Path) -> list[ManifestLine]:
    """Every line validated, or ``ManifestError`` listing every problem with its line number."""
    lines: list[ManifestLine] = []
    validate_lines([text], fmt=fmt, base=base, keep=lines.append)
    return lines


def validate_lines(chunks: Iterable[str], *, fmt: str, base: Path, keep: Callable[[ManifestLine], None]) -> None:
    """Check every line of ``chunks`` as it is read and ``keep`` each valid one, in order.

    Raises ``ManifestError`` listing every problem once the whole text is read: nothing
    kept may be run then. Only each line's key is held meanwhile, to refuse duplicates.
    """
    problems: list[LineProblem] = []
    readers = {"jsonl": _jsonl_rows, "csv": _csv_rows, "txt": _txt_rows}
    first_with_key: dict[str, int] = {}
    copies: dict[str, int] = {}
    kept = 0
    for number, fields in readers[fmt](chunks, problems):
        line, line_problems = _check_line(number, fields, base)
        problems.extend(line_problems)
        if line is None:
            continue
        earlier = first_with_key.setdefault(line.key, number)
        if earlier != number and fmt == "txt":
            # A prompt written twice in a list of prompts asks for it twice: each copy its own key.
            copies[line.key] = copies.get(line.key, 1) + 1
            line = line._replace(key=f"{line.key}#{copies[line.key]}")
            first_with_key[line.key] = number
        elif earlier != number:
            problems.append(_duplicate(line, number, earlier))
            continue
        kept += 1
        if not problems:  # once one is wrong nothing runs: the rest are only checked
            keep(line)
    if not problems and not kept:
        problems.append(LineProblem(1, "the manifest has no lines"))
    if problems:
        _refuse(problems)


def _duplicate(line: ManifestLine, number: int, earlier: int) -> LineProblem:
    if line.name:
        return LineProblem(number, f"duplicate name {line.name!r}: line {earlier} has it too")
    return LineProblem(
        number,
        f"repeats line {earlier} (same prompt, style, size, n and refs); give both a distinct name to generate it twice",
    )


def _refuse(problems: list[LineProblem]) -> None:
    problems.sort(key=lambda p: p.line)
    listed = "\n".join(f"  line {p.line}: {p.message}" for p in problems[:MAX_LISTED_ERRORS])
    more = len(problems) - MAX_LISTED_ERRORS
    if more > 0:
        listed += f"\n  ... and {more} more"
    count = len({p.line for p in problems})
    raise ManifestError(
        f"The manifest has {count} invalid line{'s' if count != 1 else ''}:\n{listed}",
        details={"errors": [p.to_dict() for p in problems]},
    )


def load_manifest(source: str, *, fmt: str | None = None) -> list[ManifestLine]:
    """Read ``source`` (a path, or ``-`` for stdin) and validate it (``manifest_spill.spill_manifest`` for a run)."""
    chunks, base = read_source(source)
    fmt, chunks = with_format(source, fmt, chunks)
    lines: list[ManifestLine] = []
    validate_lines(chunks, fmt=fmt, base=base, keep=lines.append)
    return lines
