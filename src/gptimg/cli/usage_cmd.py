"""``gptimg usage``: what the gateway charged, today and over 7 days, and the recent charged calls.

After an ``unknown`` submit this is how a person learns whether it was charged;
``gptimg jobs`` points here for such rows. Both reads are free.
"""

from __future__ import annotations

from typing import Any

import typer

from gptimg.cli.app import app, session

HISTORY_LIMIT = 100


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _period(summary: Any, *names: str) -> dict[str, Any] | None:
    """One period of ``/v1/usage/summary`` (``{"calls", "credits"}``) under any of its spellings."""
    if not isinstance(summary, dict):
        return None
    for name in names:
        value = summary.get(name)
        if isinstance(value, dict) and ("credits" in value or "calls" in value):
            return {"calls": int(_number(value.get("calls"))), "credits": _number(value.get("credits"))}
    return None


def _from_history(records: list[dict[str, Any]], today: str) -> dict[str, dict[str, Any]]:
    """Today / 7 days added up from the call history, when the summary does not say."""
    week = {"calls": len(records), "credits": sum(_number(r.get("credits")) for r in records)}
    todays = [r for r in records if str(r.get("created_at", "")).startswith(today)]
    return {"today": {"calls": len(todays), "credits": sum(_number(r.get("credits")) for r in todays)}, "last_7_days": week}


def usage_report(summary: Any, history: Any, today: str) -> dict[str, Any]:
    records = history.get("records") if isinstance(history, dict) else history
    records = [r for r in (records or []) if isinstance(r, dict)]
    fallback = _from_history(records, today)
    return {
        "today": _period(summary, "today") or fallback["today"],
        "last_7_days": _period(summary, "last_7_days", "7d", "week", "last_7d") or fallback["last_7_days"],
        "charged_calls": [
            {key: r.get(key) for key in ("created_at", "tool", "credits", "success", "error_code")}
            for r in records
            if _number(r.get("credits")) > 0
        ][:20],
    }


@app.command("usage")
def usage(limit: int = typer.Option(20, "--limit", "-l", metavar="N", help="Charged calls to list (1-100).")) -> None:
    """Credits spent today and in the last 7 days, and the recent charged calls (from the gateway)."""
    import time

    from gptimg import errors

    if not 1 <= limit <= HISTORY_LIMIT:
        raise errors.UsageError(f"--limit must be from 1 to {HISTORY_LIMIT}.")
    client = session.client()
    try:
        summary: Any = client.usage_summary()
    except errors.GatewayError:
        summary = None  # an older gateway without the summary: add up the history instead
    history = client.usage_history(limit=HISTORY_LIMIT, days=7)
    report = usage_report(summary, history, time.strftime("%Y-%m-%d", time.gmtime()))
    report["charged_calls"] = report["charged_calls"][:limit]

    def human() -> None:
        from rich.markup import escape
        from rich.table import Table

        out = session.output.out
        for label, key in (("Today", "today"), ("Last 7 days", "last_7_days")):
            period = report[key]
            out.print(f"{label}: [bold]{period['credits']:g} credits[/] ({period['calls']} calls)")
        if not report["charged_calls"]:
            out.print("No charged calls in the last 7 days.")
            return
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("time (UTC)", "tool", "credits", "ok"):
            table.add_column(column, no_wrap=True)
        for call in report["charged_calls"]:
            table.add_row(escape(str(call["created_at"] or "")), escape(str(call["tool"] or "")),
                          f"{_number(call['credits']):g}", "yes" if call["success"] else escape(str(call["error_code"] or "no")))
        out.print(table)

    session.output.success(report, human=human)
