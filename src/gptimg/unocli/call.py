"""``call``: the one command that can spend credits, so every argument is checked before a byte leaves.

A submit is journaled like gptimg's own (``jobs.agent_journal``): a row before the
request, the job id the moment the answer arrives, ``unknown`` when the answer is
missing or unusable. So ``gptimg jobs`` / ``gptimg result`` know agent-submitted jobs,
and an empty or unreadable 200 is never printed as a success.

The agent CLI sends the submit exactly once, even when the catalogue would allow a
keyed retry: an agent that wants certainty runs ``logs`` (see SKILL.md).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys

from gptimg import errors
from gptimg.image_tool import MAX_ARGUMENTS_CHARS, RESULT_TOOL, SIZES, SUBMIT_TOOL
from gptimg.unocli.compat import format_call_error
from gptimg.unocli.output import Output, fail, fail_message

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up
if TYPE_CHECKING:
    from typing import Any, Callable, NoReturn

    from gptimg.gateway import GatewayClient
    from gptimg.gateway.answers import ToolResult
    from gptimg.jobs.agent_journal import AgentJournal
    from gptimg.unocli.commands import Context

ALLOWED_TOOLS_ENV = "UNO_ALLOWED_TOOLS"
DEFAULT_ALLOWED_TOOLS = "gpt-image-2.*"
#: uno-cli refuses raw ``--args`` beyond this before looking inside (data URIs can be large).
MAX_RAW_ARGS_CHARS = 32 * 1024 * 1024
REFERENCE_FIELDS = ("reference_image_urls", "reference_image_url", "image_url", "image_urls")
DRY_RUN_NOTE = (
    "No network request was made, no credentials were read, and no credits were spent. "
    "Re-run without --dry-run to actually invoke the tool."
)
NO_CHARGE_META = {"credits_used": 0, "charged": False}
UNKNOWN_HINT = (
    "The submit may have been charged. Do not submit again blindly: run python bin/uno.py logs --last 5 "
    "to see whether it was charged, and tell the user."
)
#: Per field, what to do about a bad value, naming only commands this CLI has.
FIELD_HINTS = {
    "prompt": 'Pass a non-empty "prompt" string (any language, at most 32000 characters).',
    "size": "Use one of: " + ", ".join(SIZES) + ".",
    "n": 'Ask for 1 to 4 images per job ("n": 1).',
    "style": "The 20 style keys: python bin/uno.py tool get gpt-image-2.gpt_image2_submit (or omit style).",
    "job_id": 'Pass the "job_id" the submit returned.',
    "wait_seconds": 'Use "wait_seconds": 50 (0 to 50).',
    "reference_image_urls": "References are image files (PNG, JPEG, WebP, GIF, 8 MiB at most) or http(s) URLs.",
}


def allowed_patterns() -> list[str]:
    raw = os.environ.get(ALLOWED_TOOLS_ENV)
    if raw is None:
        raw = DEFAULT_ALLOWED_TOOLS
    return [p.strip() for p in raw.split(",") if p.strip()]


def _check_scope(slug: str) -> None:
    """``UNO_ALLOWED_TOOLS``: a slug outside it is refused before anything is read or sent."""
    patterns = allowed_patterns()
    if patterns and not any(fnmatch.fnmatchcase(slug, p) for p in patterns):
        raise errors.ToolNotAllowed(
            f"{slug} is outside this client's scope ({', '.join(patterns)}).",
            details={"tool": slug, "allowed": patterns},
        )


def invalid_arguments(message: str, field: str | None, hint: str | None = None) -> NoReturn:
    """The gateway's own shape for bad tool arguments, plus our hint; nothing was sent."""
    payload: dict[str, Any] = {"success": False, "error": "invalid_arguments", "message": message}
    payload["fields"] = [field] if field else []
    payload["hint"] = hint or FIELD_HINTS.get(field or "", '--args takes a JSON object, e.g. \'{"prompt": "a red fox"}\'')
    payload["meta"] = dict(NO_CHARGE_META)
    fail(payload)


def parse_arguments(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    raw = raw.replace("\x00", "")
    if len(raw) > MAX_RAW_ARGS_CHARS:
        fail_message("Arguments too large to upload", hint="Keep --args under 100 KB; pass images as files.")
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail_message(
            f"Invalid JSON in --args: {exc}",
            hint='--args takes a JSON object, e.g. \'{"prompt": "a red fox"}\'',
            code="bad_input",
        )
    if not isinstance(arguments, dict):
        fail_message(
            "--args must be a JSON object, e.g. '{\"key\": \"value\"}'",
            hint='--args takes a JSON object, e.g. \'{"prompt": "a red fox"}\'',
            code="bad_input",
        )
    return arguments


def check_tool_arguments(slug: str, arguments: dict[str, Any]) -> None:
    """The two tools' documented ranges, checked here so a bad call costs nothing and says why."""
    try:
        if slug == SUBMIT_TOOL:
            from gptimg.params import check_submit_arguments

            check_submit_arguments(arguments)
        elif slug == RESULT_TOOL:
            _check_result_arguments(arguments)
    except errors.InvalidArguments as exc:
        fields = exc.details.get("fields") or []
        field = fields[0] if fields else None
        hint = None
        if field == "style":
            from gptimg.styles import suggest_styles

            close = suggest_styles(str(arguments.get("style")))
            hint = (f"Did you mean {', '.join(close)}? " if close else "") + FIELD_HINTS["style"]
        invalid_arguments(exc.message, field, hint)


def _check_result_arguments(arguments: dict[str, Any]) -> None:
    job_id = arguments.get("job_id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise errors.InvalidArguments("job_id is required and must be a non-empty string", details={"fields": ["job_id"]})
    wait = arguments.get("wait_seconds")
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 3600):
        raise errors.InvalidArguments("wait_seconds must be a number of seconds", details={"fields": ["wait_seconds"]})


def check_size(arguments: dict[str, Any]) -> None:
    """100 KB once serialised, counting each inline image as the short URL it will become."""
    sized = dict(arguments)
    for name in REFERENCE_FIELDS:
        value = sized.get(name)
        if isinstance(value, str) and "data:" in value:
            from gptimg.references import split_reference_list  # only when there is an inline image

            sized[name] = ",".join("x" * 100 if p.startswith("data:") else p for p in split_reference_list(value))
    if len(json.dumps(sized, ensure_ascii=False)) > MAX_ARGUMENTS_CHARS:
        fail_message("Arguments too large (max 100KB)", hint="Shorten the prompt or pass fewer inline images.")


def reference_plan(arguments: dict[str, Any]) -> dict[str, list[Any]]:
    """Check every reference of a submit locally (existence, type, size) before anything is sent."""
    plan: dict[str, list[Any]] = {}
    if not any(arguments.get(name) for name in REFERENCE_FIELDS):
        return plan
    from gptimg.references import check_references, split_reference_list

    try:
        for name in REFERENCE_FIELDS:
            value = arguments.get(name)
            if isinstance(value, str) and value.strip():
                plan[name] = check_references(split_reference_list(value), strict=False)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                plan[name] = check_references(value, strict=False)
    except errors.InvalidArguments as exc:
        invalid_arguments(exc.message, "reference_image_urls")
    return plan


def cmd_call(ctx: Context, args: argparse.Namespace) -> None:
    slug = args.tool
    _check_scope(slug)
    arguments = parse_arguments(args.args)
    timeout = args.timeout or 60
    if args.dry_run:
        Output.emit(
            {
                "success": True,
                "dry_run": True,
                "preview": {"tool": slug, "arguments": arguments, "timeout_seconds": timeout},
                "note": DRY_RUN_NOTE,
            }
        )
        return
    check_tool_arguments(slug, arguments)
    plan = reference_plan(arguments) if slug == SUBMIT_TOOL else {}
    check_size(arguments)
    journal_ready = None
    if slug == SUBMIT_TOOL:
        from gptimg.jobs.agent_journal import open_in_background

        journal_ready = open_in_background()

    client = ctx.authed_client()
    if plan:
        from gptimg.references import upload_references

        for name, refs in plan.items():
            joined = upload_references(refs, client.upload)
            arguments[name] = joined if isinstance(arguments[name], str) else joined.split(",")
    if journal_ready is not None:
        result = _journaled_submit(ctx, client, journal_ready, arguments, timeout=timeout, view=args.view_only)
    else:
        wait = arguments.get("wait_seconds")
        if slug == RESULT_TOOL and isinstance(wait, (int, float)) and not isinstance(wait, bool):
            timeout = max(timeout, int(wait) + 5)
        result = _send(client, slug, arguments, timeout=timeout, retry=slug == RESULT_TOOL, view=args.view_only)
    _emit_success(result, view_only=args.view_only)


def _send(
    client: GatewayClient, slug: str, arguments: dict[str, Any], *, timeout: int, retry: bool, view: bool
) -> ToolResult:
    try:
        return client.call_tool(slug, arguments, timeout=timeout, retry=retry, view=view)
    except errors.GptimgError as exc:
        _fail_call(exc)


def _fail_call(exc: errors.GptimgError) -> NoReturn:
    if exc.code == "tool_error":
        # An MCP error result ({"content": [...], "isError": true}): keep the tool's own words.
        payload: dict[str, Any] = {"success": False, "error": "tool_error", "message": exc.message}
        payload["meta"] = _meta_of(exc) or dict(NO_CHARGE_META)
        payload["hint"] = "The tool itself reported this error; show the message to the user."
        fail(payload)
    if isinstance(exc, errors.SubmitOutcomeUnknown) and getattr(exc, "body", None) is None:
        # No usable answer at all: the gateway's own shape for this outcome, plus what happened.
        fail({"success": False, "error": "outcome_unknown", "message": exc.message, "code": exc.code,
              "status": exc.status or 0, "meta": {"outcome": "outcome_unknown"}, "hint": UNKNOWN_HINT})
    # Any answer with a body (InvalidApiKey on a 401 too) gets uno-cli's call-failure shape.
    if getattr(exc, "body", None) is None:
        raise exc
    shaped = format_call_error(exc)
    if isinstance(exc, errors.SubmitOutcomeUnknown):
        shaped["code"] = exc.code
        shaped["hint"] = UNKNOWN_HINT
    fail(shaped)


def _journaled_submit(
    ctx: Context,
    client: GatewayClient,
    journal_ready: Callable[[], AgentJournal],
    arguments: dict[str, Any],
    *,
    timeout: int,
    view: bool,
) -> ToolResult:
    """Row first, then the one request, then the job id into the row; never retried."""
    import sqlite3

    from gptimg.jobs.agent_journal import journal_hint

    try:
        journal = journal_ready()
        row_id = journal.record_submit(gateway=client.base_url, arguments=arguments, account=ctx.account_name())
    except (sqlite3.Error, OSError) as exc:
        raise errors.JournalUnavailable(
            f"Cannot write the job journal, so nothing was submitted: {type(exc).__name__}: {exc}",
            hint=f"Make {journal_hint()} writable, or point GPTIMG_HOME at a writable folder.",
        ) from None
    try:
        return _settle(journal, row_id, client, arguments, timeout=timeout, view=view)
    finally:
        journal.close()


def _settle(
    journal: AgentJournal, row_id: int, client: GatewayClient, arguments: dict[str, Any], *, timeout: int, view: bool
) -> ToolResult:
    from gptimg.jobs.ids import usable_job_id

    try:
        result = client.call_tool(SUBMIT_TOOL, arguments, timeout=timeout, retry=False, view=view)
    except errors.SubmitOutcomeUnknown as exc:
        _journal_write(journal.mark_unknown, row_id, exc.message)
        _fail_call(exc)
    except errors.GptimgError as exc:
        meta = _meta_of(exc)
        charged = meta.get("charged") is True or bool(meta.get("credits_used"))
        # The row says "not charged" only when the gateway's answer does not say it was.
        mark = journal.mark_unknown if charged else journal.mark_rejected
        _journal_write(mark, row_id, f"{exc.code}: {exc.message}")
        _fail_call(exc)
    except BaseException:
        _journal_write(journal.mark_unknown, row_id, "interrupted while the submit was in flight")
        raise
    data = result.data if isinstance(result.data, dict) else {}
    job_id = data.get("job_id")
    if not usable_job_id(job_id):
        reason = "no job id" if not job_id else "an unusable job id (control characters or too long)"
        _journal_write(journal.mark_unknown, row_id, f"the submit answer carried {reason}")
        _fail_call(errors.SubmitOutcomeUnknown(
            f"The gateway answered the submit with {reason}; it may have been charged.",
            status=200, body={"error": "outcome_unknown", "message": f"The submit answer carried {reason}.",
                              "meta": result.meta or {"outcome": "outcome_unknown"}},
        ))
    _journal_write(journal.record_job_id, row_id, job_id, estimated_seconds=data.get("estimated_seconds"),
                   credits_used=result.credits_used)
    return result


def _meta_of(exc: errors.GptimgError) -> dict[str, Any]:
    """The ``meta`` the gateway sent with a failure: in its envelope, or kept beside an MCP error result."""
    body = getattr(exc, "body", None)
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        meta = exc.details.get("meta")
    return meta if isinstance(meta, dict) else {}


def _journal_write(write: Any, *args: Any, **kwargs: Any) -> None:
    """A journal write after the request left: a failure is reported, never lets the answer be lost."""
    import sqlite3

    try:
        write(*args, **kwargs)
    except sqlite3.Error as exc:
        print(f"warning: the job journal could not be updated ({exc}); the answer below is all there is.",
              file=sys.stderr)


def _emit_success(result: ToolResult, *, view_only: bool) -> None:
    out: dict[str, Any] = {"success": True}
    has_view = isinstance(result.envelope.get("view"), dict)
    if has_view:
        out["view"] = result.envelope["view"]
    if not (view_only and has_view):
        out["data"] = result.data
    if "meta" in result.envelope:
        out["meta"] = result.envelope["meta"]
    Output.emit(out)
