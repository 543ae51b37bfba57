"""How ``gptimg jobs`` looks: one line per job on a terminal, tab-separated values on a pipe.

Plain strings, no rich tables: a table measures every cell of every row (10,000
rows took ~10 s and 150 MiB) and wraps a job over many lines. Here each column
has a width computed once, each cell is cut to it by display width (wide CJK
characters count two), and every string from outside is neutralised first, so
a prompt cannot move the cursor, recolour the terminal or reorder the line.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    from gptimg.jobs.history import Totals

TSV_COLUMNS = ("created_at", "status", "job_id", "credits", "sandbox", "style", "size", "n", "prompt", "out_dir",
               "files")
_TIME_WIDTH = 11  # "11-25 16:40"
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def neutral(text: str) -> str:
    """``text`` with every character that is not printable (controls, bidi overrides) shown as an escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width_of(text: str) -> int:
    return sum(char_width(ch) for ch in text) if not text.isascii() else len(text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns (``…`` marks a cut), padded with spaces to exactly that."""
    if width <= 0:
        return ""
    if text.isascii():  # one column per character: slicing is exact
        return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
    used, kept = 0, []
    total = width_of(text)
    limit = width if total <= width else width - 1
    for ch in text:
        step = char_width(ch)
        if used + step > limit:
            break
        kept.append(ch)
        used += step
    if total > width:
        kept.append("…")
        used += 1
    return "".join(kept) + " " * (width - used)


def fit_left(text: str, width: int) -> str:
    """Like :func:`fit` but keeps the end (a path's file name), cutting at the start."""
    if width <= 0:
        return ""
    if text.isascii():
        return text.ljust(width) if len(text) <= width else "…" + text[len(text) - width + 1:]
    if width_of(text) <= width:
        return fit(text, width)
    used, kept = 1, []
    for ch in reversed(text):
        step = char_width(ch)
        if used + step > width:
            break
        kept.append(ch)
        used += step
    return "…" + "".join(reversed(kept)) + " " * (width - used)


def one_line(text: str | None) -> str:
    return neutral(" ".join((text or "").split()))


def local_time(stamp: str, pattern: str = "%m-%d %H:%M") -> str:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().strftime(pattern)
    except ValueError:
        return stamp


@functools.lru_cache(maxsize=1)
def _home() -> str:
    return str(Path.home())


def home_short(path: str) -> str:
    home = _home()
    return "~" + path[len(home):] if home not in ("", "/") and (path == home or path.startswith(home + os.sep)) else path


def where(row: sqlite3.Row, files: list[str], width: int) -> str:
    """The folder a job's images are in (``(N)`` when more than one) or will go to, in ``width`` columns.

    The whole folder (``~`` for home) when it fits, else its last part: the name people know it by.
    """
    folder = os.path.dirname(files[0]) if files else (row["out_dir"] or "")
    if not folder:
        return fit("", width)
    count = f" ({len(files)})" if len(files) > 1 else ""
    full = neutral(home_short(folder)).rstrip("/") + "/" + count
    if width_of(full) <= width:
        return fit(full, width)
    return fit_left(neutral(os.path.basename(folder.rstrip("/")) or folder) + "/" + count, width)


def status_text(row: sqlite3.Row) -> str:
    """The status, with ``*`` for a sandbox job (test credits; the journal's m004 flag, when it has one)."""
    sandbox = "sandbox" in row.keys() and bool(row["sandbox"])
    return neutral(row["status"]) + ("*" if sandbox else "")


def credits_text(value: Any) -> str:
    return "" if value is None else number(value)


def number(value: float) -> str:
    """``300``, ``12,500``, ``2.5``: whole numbers without a decimal point, never an exponent."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def ref(row: sqlite3.Row) -> str:
    """How a person names a row: its job id, or ``#ROW`` when the submit got none."""
    return neutral(row["job_id"]) if row["job_id"] else f"#{row['id']}"


def job_lines(rows: list[sqlite3.Row], files: list[list[str]], width: int) -> Iterator[str]:
    """A header and one line per job, none wider than ``width`` columns."""
    ids = [ref(row) for row in rows]
    credits = [credits_text(row["credits_used"]) for row in rows]
    styles = [neutral(row["style"] or "") for row in rows]
    statuses = [status_text(row) for row in rows]
    status_w = max(6, *(len(status) for status in statuses))
    id_w = min(14, max(2, *(len(i) for i in ids)))
    credit_w = max(3, *(len(c) for c in credits))
    style_w = min(14 if width >= 100 else 10, max(5, *(width_of(s) for s in styles)))
    fixed = _TIME_WIDTH + status_w + id_w + credit_w + style_w + 6
    rest = max(0, width - fixed)
    where_w = min(max(14, rest * 2 // 5), rest)
    prompt_w = max(0, rest - where_w - 1)
    cells = (_TIME_WIDTH, status_w, id_w, credit_w, style_w, prompt_w)
    exact = fixed + prompt_w + where_w <= width  # else a terminal too narrow for the columns: cut each line
    header = ("time", "status", "id", "cr", "style", "prompt")
    yield _line([fit(h, w) for h, w in zip(header, cells)] + [fit("files", where_w)], width)
    for row, status, job_ref, credit, style, paths in zip(rows, statuses, ids, credits, styles, files):
        parts = [
            fit(local_time(row["created_at"]), _TIME_WIDTH),
            fit(status, status_w),
            fit(job_ref, id_w),
            credit.rjust(credit_w)[:credit_w],
            fit(style or "-", style_w),
            fit(one_line(row["prompt"]), prompt_w),
            where(row, paths, where_w),
        ]
        yield _line(parts, width, exact)


def _line(parts: list[str], width: int, exact: bool = False) -> str:
    line = " ".join(parts)
    return (line if exact else fit(line, width)).rstrip()


def tsv_field(text: Any) -> str:
    """One TSV field: tab, newline, CR and backslash escaped (so one job is one line), controls shown."""
    if text is None:
        return ""
    value = str(text)
    if value.isprintable() and "\\" not in value:  # tab, newline and CR are not printable
        return value
    return "".join(_ESCAPES.get(ch) or (ch if ch.isprintable() else _escape_char(ch)) for ch in value)


def tsv_lines(rows: Iterable[sqlite3.Row], files: Iterable[list[str]], sandbox_known: bool) -> Iterator[str]:
    """A header, then one line per job: full prompt, full paths (one field each, at the end)."""
    yield "\t".join(TSV_COLUMNS)
    for row, paths in zip(rows, files):
        flag = row["sandbox"] if sandbox_known and "sandbox" in row.keys() else None
        sandbox = "" if not sandbox_known else "yes" if flag else "no"
        credits = row["credits_used"]
        credits = "" if credits is None else int(credits) if float(credits).is_integer() else credits
        fields = [row["created_at"], row["status"], row["job_id"], credits, sandbox,
                  row["style"], row["size"], row["n"], row["prompt"], row["out_dir"], *paths]
        yield "\t".join(tsv_field(value) for value in fields)


def totals_line(total: Totals, shown: int) -> str:
    """``20 of 143 jobs · 151 images · 45,300 credits`` (and the sandbox's, apart)."""
    line = f"{shown} of {total.jobs} jobs" if shown < total.jobs else f"{total.jobs} jobs"
    line += f" · {total.images:,} images · {number(total.credits)} credits"
    if total.sandbox_images or total.sandbox_credits:
        line += f" · *sandbox: {total.sandbox_images:,} images, {number(total.sandbox_credits)} test credits"
    return line
