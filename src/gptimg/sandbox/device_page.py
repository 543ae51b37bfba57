"""The browser side of the device-code login: a small HTML page with Authorise and Deny.

Everything that came from a request (the code, an email) is passed through
``html.escape`` before it lands in the page; the sandbox may be a toy, but
a reflected-XSS habit is not one to practise.
"""

from __future__ import annotations

import html

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}"
    ".code{font:700 2rem ui-monospace,monospace;letter-spacing:.2rem;padding:.5rem 1rem;"
    "background:#f2f2f2;border-radius:.4rem;display:inline-block}"
    "button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}"
    ".note{color:#666;font-size:.9rem}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}"
        "<p class=\"note\">This is the gptimg sandbox gateway: nothing here is real, no credits are spent.</p>"
        "</body></html>\n"
    )


def authorise_page(user_code: str, scope: str, client_id: str) -> str:
    """The page a user sees after following ``verification_uri_complete``."""
    code = html.escape(user_code)
    return _page(
        "Authorise gptimg",
        "<p><b>gptimg</b> (or another Uno client, here "
        f"<code>{html.escape(client_id)}</code>) asks to use your sandbox account with scope "
        f"<code>{html.escape(scope)}</code>.</p>"
        f"<p>Check that your terminal shows this code:</p><p class=\"code\">{code}</p>"
        "<form method=\"post\" action=\"/device/approve\">"
        f"<input type=\"hidden\" name=\"user_code\" value=\"{code}\">"
        "<p><label>Account email (optional): <input type=\"email\" name=\"email\"></label></p>"
        "<button type=\"submit\">Authorise</button>"
        "<button type=\"submit\" formaction=\"/device/deny\">Deny</button>"
        "</form>",
    )


def enter_code_page(message: str = "") -> str:
    """Shown at ``verification_uri`` without a code, or with one the sandbox does not know."""
    note = f"<p><b>{html.escape(message)}</b></p>" if message else ""
    return _page(
        "Enter your code",
        f"{note}<form method=\"get\" action=\"/device\">"
        "<p><label>Code: <input name=\"code\" autocomplete=\"off\" placeholder=\"ABCD-EFGH\"></label></p>"
        "<button type=\"submit\">Continue</button></form>",
    )


def outcome_page(title: str, message: str) -> str:
    """After Authorise or Deny, or when the decision could not be recorded."""
    return _page(title, f"<p>{html.escape(message)}</p>")
