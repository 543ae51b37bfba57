"""The words ``gptimg batch`` prints: the plan, the dry run, the progress counts and the summary rows.

Kept apart from the command so the progress line and the summary count the same
things under the same names (done, failed, skipped, left), and so a line is
named the way the person wrote it (its ``name``, else its prompt), never by a hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gptimg.batch.manifest import ManifestLine
    from gptimg.batch.report import Tally

LABEL_WIDTH = 48


def line_label(line: ManifestLine) -> str:
    """``name`` when the manifest gave one, else the prompt (shortened to one line)."""
    text = " ".join((line.name or line.prompt).split())
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 3] + "..."


def progress_counts(counts: dict[str, float]) -> str:
    """The live line's counts, with the summary's names: done, failed, skipped, left."""
    return (
        f"done {counts['done']:g}, running {counts['running']:g}, failed {counts['failed']:g}, "
        f"skipped {counts['skipped']:g}, left {counts['remaining']:g}, {counts['credits']:g} credits"
    )


def summary_counts(tally: Tally) -> list[tuple[str, str]]:
    """The same groups as :func:`progress_counts`, each with the detail the live line had no room for."""
    done = tally.done + tally.already_done
    failed = tally.failed + tally.unknown
    rows = [
        ("lines", str(tally.total)),
        ("done", f"{done}" + (f" ({tally.already_done} from an earlier run)" if tally.already_done else "")),
        ("failed", f"{failed}" + (f" ({tally.unknown} need attention: see below)" if tally.unknown else "")),
        ("skipped", str(tally.skipped)),
        ("submits", str(tally.submits)),
    ]
    return rows


def dry_run_report(
    lines: Sequence[ManifestLine],
    *,
    plan: str,
    to_submit: int,
    cost: float,
    balance: float | None,
    out_dir: Path,
) -> dict[str, Any]:
    """What a ``--dry-run`` shows and returns: the plan, what it would cost, and each line."""
    total = to_submit * cost
    return {
        "dry_run": True,
        "plan": plan,
        "submits": to_submit,
        "cost_per_job": cost,
        "credits_needed": total,
        "balance": balance,
        "balance_after": balance - total if balance is not None else None,
        "out_dir": str(out_dir.resolve()),
        "lines": [
            {"line": line.line, "name": line.name, "prompt": line.prompt, "style": line.style, "size": line.size,
             "n": line.n}
            for line in lines
        ],
        "note": "Nothing was submitted and nothing was spent.",
    }


def dry_run_lines(report: dict[str, Any]) -> list[str]:
    """The human form of :func:`dry_run_report` (plain text; stdout)."""
    cost = f"{report['credits_needed']:g} credits ({report['submits']} x {report['cost_per_job']:g})"
    text = [
        f"Dry run: {report['plan']}.",
        f"Would spend {cost}"
        + (f"; balance {report['balance']:g} now, {report['balance_after']:g} after." if report["balance"] is not None
           else "."),
        f"Images into {report['out_dir']}",
    ]
    for line in report["lines"]:
        label = line["name"] or line["prompt"]
        style = f", {line['style']}" if line["style"] else ""
        text.append(f"  line {line['line']}: {' '.join(label.split())[:LABEL_WIDTH]} ({line['size']}, n={line['n']}{style})")
    text.append("Nothing was submitted and nothing was spent.")
    return text


def rerun_command(argv: list[str], flag: str) -> str:
    """The command the person ran, with ``flag`` added and ``--yes`` taken out (a new spend asks again)."""
    import shlex

    args = [a for a in argv if a not in ("--yes", "-y", "--dry-run")]
    if flag not in args:
        args.append(flag)
    return shlex.join(["gptimg", *args])


def forgotten_hint(job_id: str | None, command: str) -> str:
    """What a line whose job the gateway no longer has says, once: its job, and how to get a new image."""
    return (f"The gateway no longer has job {job_id}; a re-run asks again (free) and never pays again on its "
            f"own. For a new image (paid again, after a confirmation): {command}")


def new_images_question(count: int, cost: float) -> str:
    """``--new-images``' own question: how many lines are paid for again, and why."""
    return (f"--new-images: {count} line(s) already have images or a paid job; pay {count * cost:g} credits "
            f"({count} x {cost:g}) again for new images instead of fetching the old ones free?")
