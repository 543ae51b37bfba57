"""Turning gptimg errors into the exact failure shapes uno-cli 1.0.7 prints.

uno-cli has two shapes: one for ``call`` when the gateway sent an error
envelope, and one (``_format_api_error``) for everything else. We reproduce both
so agents parse the same keys, and add a ``hint`` where uno-cli has none.
"""

from __future__ import annotations

from gptimg import errors

# ``typing`` costs ~5 ms of every agent CLI start; annotations here are never evaluated.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: uno-cli's hint table, in its order (more specific keys first).
_HINTS: tuple[tuple[str, str], ...] = (
    ("tool_not_allowed", "Tool is outside this skill's declared scope."),
    ("tool_not_found", "Tool not found. Try: python bin/uno.py search <keyword>"),
    (
        "insufficient_credits",
        "积分不足，请打开 https://agentools.uno/pricing 充值。"
        " Insufficient credits. Open https://agentools.uno/pricing to top up.",
    ),
    (
        "rate_limit_exceeded",
        "同一工具调用过于频繁，请稍后重试。 Rate limited on this tool. Please wait and retry.",
    ),
    ("auth_required", "OAuth required. Open the auth_url in a browser."),
    ("invalid api key", "API key expired or invalid. Run: python bin/uno.py login --start"),
    # Not in uno-cli's table: without these a 401 envelope would get the human CLI's hint.
    ("invalid_api_key", "API key expired or invalid. Run: python bin/uno.py login --start"),
    ("not_authenticated", "Login required. Run: python bin/uno.py login --start"),
    ("invalid credentials", "Login required. Run: python bin/uno.py login --start"),
    ("unauthorized", "Login required. Run: python bin/uno.py login --start"),
    ("rate limit", "Rate limited. Please wait and retry."),
    ("not_found", "Resource not found. Check the ID/slug."),
    ("not found", "Resource not found. Check the ID/slug."),
)
_NO_CHARGE_META = {"credits_used": 0, "credits_from": {"free": 0, "paid": 0.0}, "charged": False}


#: Hints for errors whose general hint names a ``gptimg`` command: in a skill folder only
#: ``python bin/uno.py`` exists, so the agent CLI names its own commands instead.
_AGENT_HINTS = {
    "not_logged_in": "Log in first: python bin/uno.py login --start",
    "invalid_api_key": "API key expired or invalid. Run: python bin/uno.py login --start",
    "invalid_arguments": "Check prompt, size, n, style and reference_image_urls; the 20 style keys: "
    "python bin/uno.py tool get gpt-image-2.gpt_image2_submit",
    "outcome_unknown": "The submit may have been charged. Do not submit again blindly: run "
    "python bin/uno.py logs --last 5 to see whether it was charged, and tell the user.",
    "already_submitted": "Another run submitted this at the same moment; check: python bin/uno.py logs --last 5",
    "download_failed": "The job is done; poll it again with the result tool to get its URLs.",
}


def agent_hint(exc: errors.GptimgError) -> str:
    """The hint to print in the agent CLI: ours when the general one names gptimg, else the error's own."""
    return _AGENT_HINTS.get(exc.code, "") if "gptimg " in exc.hint else exc.hint


def match_hint(text: str) -> str:
    lowered = text.lower()
    return next((hint for key, hint in _HINTS if key in lowered), "")


def format_api_error(exc: errors.GptimgError) -> dict[str, Any]:
    """uno-cli's ``_format_api_error`` for an HTTP error answer (any error carrying ``status``/``body``)."""
    body = getattr(exc, "body", None)
    status = getattr(exc, "status", None)
    status = status if status is not None else 0
    if isinstance(body, dict):
        detail: Any = body.get("detail", body.get("error", body.get("message", "")))
    else:
        detail = exc.message  # a non-JSON page: say what it was, do not dump the HTML
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = " → ".join(str(x) for x in item.get("loc", []))
                parts.append(f"{loc}: {item.get('msg', '')}")
            else:
                parts.append(str(item))
        detail = "; ".join(parts) if parts else str(detail)
    result: dict[str, Any] = {"success": False, "error": str(detail), "status": status}
    if isinstance(body, dict):
        if body.get("message") and str(body["message"]) != result["error"]:
            result["message"] = body["message"]
        if body.get("meta"):
            result["meta"] = body["meta"]
        code = body.get("error")
        if code and result["error"] != str(code) and isinstance(code, str) and " " not in code:
            result["error"] = code
            result["message"] = str(detail)
    hint = match_hint(str(result.get("error") or detail)) or agent_hint(exc)
    if hint:
        result["hint"] = hint
    return result


def format_call_error(exc: errors.GptimgError) -> dict[str, Any]:
    """uno-cli's ``call`` failure when the gateway sent ``{"error": …}``; else ``format_api_error``."""
    body = getattr(exc, "body", None)
    if not (isinstance(body, dict) and body.get("error")):
        return format_api_error(exc)
    out: dict[str, Any] = {"success": False, "error": body["error"]}
    for key in ("auth_url", "auth_type", "auth_provider", "get_key_url", "fields", "message", "recharge_url"):
        if body.get(key):
            out[key] = body[key]
    out["meta"] = body["meta"] if body.get("meta") else dict(_NO_CHARGE_META)
    auth_type = body.get("auth_type", "")
    if auth_type in ("oauth_device", "oauth_device_code", "device_code_api"):
        out["hint"] = "Device-code OAuth. Open auth_url, enter the user code. Do not ask for a key or follow get_key_url."
    elif body.get("auth_url"):
        out["hint"] = "OAuth required. Open auth_url in a browser to authorize."
    elif auth_type == "api_key":
        out["hint"] = "API key required. Show get_key_url to the user."
    elif body.get("recharge_url"):
        url = body["recharge_url"]
        out["hint"] = f"积分不足，请充值：{url} Insufficient credits. Please top up: {url}"
    elif body.get("error") == "rate_limit_exceeded":
        retry = (body.get("meta") or {}).get("retry_after_seconds")
        if retry:
            out["hint"] = f"同一工具调用过于频繁，请 {retry} 秒后重试。 Rate limited on this tool. Retry after {retry} seconds."
        else:
            out["hint"] = "同一工具调用过于频繁，请稍后重试。 Rate limited on this tool. Please wait and retry."
    else:
        # uno-cli has no hint here; ours. A refused key points at this CLI's login, not gptimg's.
        text = str(body["error"])
        hint = (match_hint(text) or agent_hint(exc)) if isinstance(exc, errors.AuthError) else (agent_hint(exc) or match_hint(text))
        if hint:
            out["hint"] = hint
    return out


def format_local_error(exc: errors.GptimgError) -> dict[str, Any]:
    """Our own failures (no gateway body): uno-cli's ``_fail`` shape plus a stable ``code``.

    Any error that carries the gateway's parsed answer (a ``GatewayError``, but also
    ``InvalidApiKey`` for a 401) is printed in uno-cli's HTTP-error shape instead,
    so ``error`` is the gateway's stable code, as uno-cli prints it.
    """
    if getattr(exc, "body", None) is not None:
        return format_api_error(exc)
    if isinstance(exc, errors.ToolNotAllowed):
        # uno-cli names the code itself as the error here, and agents match on it.
        return {"success": False, "error": exc.code, "hint": exc.hint, **exc.details}
    out: dict[str, Any] = {"success": False, "error": exc.message}
    hint = agent_hint(exc) or match_hint(exc.message)
    if hint:
        out["hint"] = hint
    out["code"] = exc.code
    if isinstance(exc, errors.GatewayError) and exc.status:
        out["status"] = exc.status
    elif isinstance(exc, errors.TransportError):
        out["status"] = 0
    for key, value in exc.details.items():
        out.setdefault(key, value)
    return out


def format_envelope_error(exc: errors.GptimgError) -> dict[str, Any] | None:
    """uno-cli's ``tool get`` failure for an error envelope that came with a 2xx status.

    uno-cli prints ``{"success": false, "error", "message", "meta"}`` then, without
    ``status`` (it only adds that for HTTP errors). None when ``exc`` is not that case.
    """
    body = getattr(exc, "body", None)
    status = getattr(exc, "status", None)
    if not (isinstance(body, dict) and body.get("error") and status is not None and status < 400):
        return None
    out: dict[str, Any] = {"success": False, "error": body["error"]}
    if body.get("message"):
        out["message"] = body["message"]
    if body.get("meta"):
        out["meta"] = body["meta"]
    hint = match_hint(str(body["error"])) or agent_hint(exc)
    if hint:
        out["hint"] = hint
    return out
