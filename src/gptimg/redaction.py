"""Masking: the single chokepoint every printed payload passes through.

Any field named like a secret is replaced by a short preview at any depth (the
same rule as uno-cli, so agents see the same shapes), and the key in use is
scrubbed from every string, in case a server echoes it back inside a message.
"""

from __future__ import annotations

# ``typing`` costs ~5 ms of every agent CLI start; annotations here are never evaluated.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable
    from typing import Any

SECRET_FIELD_NAMES = frozenset(
    {"api_key", "apikey", "access_token", "refresh_token", "token", "secret", "client_secret", "password"}
)
REDACTED = "[redacted]"


def mask_token(value: Any) -> Any:
    """``uno_abcd...wxyz`` for 12+ characters, ``***`` below; non-strings unchanged."""
    if not isinstance(value, str):
        return value
    if len(value) < 12:
        return "***"
    return f"{value[:8]}...{value[-4:]}"


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def strip_secrets(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``obj`` safe to print: secret-named fields masked, known secret values removed."""
    known = tuple(s for s in secrets if s)

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (
                    mask_token(v)
                    if isinstance(k, str) and k.lower() in SECRET_FIELD_NAMES and isinstance(v, str)
                    else clean(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        if isinstance(value, str) and known:
            return redact_text(value, known)
        return value

    return clean(obj)


_JSON_STATE: dict[str, Any] = {}


def json_without_secrets(obj: Any, secrets: Iterable[str] = ()) -> str:
    """``json.dumps(strip_secrets(obj, secrets), ensure_ascii=False, default=str)``, without copying ``obj`` when
    nothing in it needs masking (the usual case: a batch prints one of these per line).

    The document is encoded once as it is, then two searches tell whether masking
    could change it: a secret-named key (keys reach the text as they are, lowercased
    here as ``strip_secrets`` compares them) or a known secret's JSON form (JSON
    escapes character by character, so a string holding the secret holds its
    encoded form). Either one found, and it is encoded again from ``strip_secrets``'s
    copy: a false alarm costs time, never a secret.
    """
    secrets = tuple(secrets)
    encode, may_mask = _json_tools(secrets)
    text: str = encode(obj)
    return encode(strip_secrets(obj, secrets)) if may_mask(text) else text


def json_lines_without_secrets(objs: Iterable[Any], secrets: Iterable[str] = ()) -> str:
    """``json_without_secrets`` of each of ``objs``, one per line (no final newline): the searches run once, over all.

    What a line holds, the block holds (lowercasing and JSON escaping go character
    by character), so a block with nothing to mask has no line to mask; otherwise
    each line is made as ``json_without_secrets`` makes it.
    """
    secrets = tuple(secrets)
    encode, may_mask = _json_tools(secrets)
    objs = list(objs)
    block = "\n".join([obj.text if type(obj) is JsonText else encode(obj) for obj in objs])
    if not may_mask(block):
        return block
    return "\n".join([json_without_secrets(document(obj), secrets) for obj in objs])


class JsonText:
    """A document already encoded, exactly as ``json_lines_without_secrets`` encodes it before any masking (``text``),
    and how to make the document itself (``make``), for when masking may be needed.

    The block's searches run over ``text`` as over any line, and a block that may need masking
    is made again from the documents: the same bytes, the same masking. A batch writes its
    "already done" lines from a template (``LineResult.json_text``): encoding each line's dict
    was two thirds of printing a finished 5,000-line batch's re-run (callgrind).
    """

    __slots__ = ("text", "make")

    def __init__(self, text: str, make: Callable[[], Any]) -> None:
        self.text = text
        self.make = make


def document(obj: Any) -> Any:
    """``obj``, or the document a ``JsonText`` stands for."""
    return obj.make() if type(obj) is JsonText else obj


def _json_tools(secrets: tuple[str, ...]) -> tuple[Callable[[Any], str], Callable[[str], bool]]:
    """The shared encoder, and the test "could ``strip_secrets`` change this JSON text?" for ``secrets``."""
    state = _JSON_STATE
    if not state:
        import json

        state["encode"] = _plain_encoder(json)
        # Each name as a key, with json's own key separator: plain searches (a regular expression's
        # alternation of them, trying each at every quote, was 2 % of a finished batch's re-run).
        state["keys"] = tuple(f'"{name}": ' for name in sorted(SECRET_FIELD_NAMES))
    encode, secret_keys = state["encode"], state["keys"]
    known = state.get("known")  # (secrets, their JSON forms): one object, so threads never mix two pairs
    if known is None or known[0] != secrets:
        known = state["known"] = (secrets, [encode(s)[1:-1] for s in secrets if s and len(s) >= 8])
    encoded = known[1]

    def may_mask(text: str) -> bool:
        lowered = text.lower()
        return any(key in lowered for key in secret_keys) or any(form in text for form in encoded)

    return encode, may_mask


def _plain_encoder(json: Any) -> Callable[[Any], str]:
    """``json.JSONEncoder(ensure_ascii=False, default=str).encode``, with its C encoder made once, not per call.

    ``JSONEncoder.encode`` runs two Python frames and builds a new C encoder (nine
    arguments, a closure, a markers dict) for every document: half the cost of a
    batch's ``--json`` line (callgrind). The C encoder made here is the one it
    builds, without the markers dict that finds a reference cycle (our documents are
    trees; a cycle now fails as ``RecursionError`` instead of ``ValueError``).
    """
    from json.encoder import c_make_encoder, encode_basestring

    encoder = json.JSONEncoder(ensure_ascii=False, default=str)
    if c_make_encoder is None:  # an interpreter without ``_json``
        return encoder.encode  # type: ignore[no-any-return]
    make = c_make_encoder(None, encoder.default, encode_basestring, None, ": ", ", ", False, False, True)
    join = "".join

    def encode(obj: Any) -> str:
        if isinstance(obj, str):
            return encode_basestring(obj)  # type: ignore[no-any-return]
        return join(make(obj, 0))

    return encode


#: An Uno answer is a few levels deep; anything past this is not a gateway talking (and would
#: exhaust the stack of every recursive walk after it: scrubbing, printing, journaling).
MAX_ANSWER_DEPTH = 64


class TooDeep(ValueError):
    """A parsed answer nested deeper than ``MAX_ANSWER_DEPTH``."""


def holds_nothing_to_scrub(raw: bytes | str, secrets: Iterable[str]) -> bool:
    """True when the JSON ``raw`` (bytes as UTF-8, or text) can hold none of ``secrets`` and nest
    no deeper than ``MAX_ANSWER_DEPTH``: then ``scrub_answer`` of its parse would return an equal
    copy, and the walk (and the copy) can be spared.

    A decoded string is runs of ``raw``'s own characters joined by what its escapes stand for.
    When every escape is ``\\"`` or ``\\\\`` and a secret holds neither ``"`` nor ``\\``, the
    secret can only sit inside one run, so it is in ``raw`` itself; any other escape
    (``\\u0075``, ``\\/``, ``\\n``...) could spell anything, and the answer is walked. Nesting
    is at most the count of ``{`` and ``[``, strings' included. Why: the walk was ~3 % of a batch
    client's CPU (46 nodes per answer, three answers an image); MCP answers carry their JSON as
    text, so their outer JSON is full of ``\\"``.
    """
    text = isinstance(raw, str)
    if raw.count("{" if text else b"{") + raw.count("[" if text else b"[") > MAX_ANSWER_DEPTH:
        return False
    escaped = ("\\" if text else b"\\") in raw
    if escaped and (_other_escape_text() if text else _other_escape()).search(raw):  # type: ignore[arg-type]
        return False
    for secret in secrets:
        if not secret or len(secret) < 8:
            continue  # scrub_answer leaves these alone too
        if escaped and ('"' in secret or "\\" in secret):
            return False
        try:
            if (secret if text else secret.encode("utf-8")) in raw:  # type: ignore[operator]
                return False
        except UnicodeEncodeError:  # a lone surrogate: no valid UTF-8 answer decodes to one without an escape
            continue
    return True


_escape_patterns: list[re.Pattern[Any]] = []


def _other_escape() -> re.Pattern[bytes]:
    """A backslash followed by anything but ``"`` or a backslash (compiled at first use)."""
    if not _escape_patterns:
        import re  # not at import: the agent CLI's start-up is counted

        _escape_patterns.extend((re.compile(rb'\\[^"\\]'), re.compile(r'\\[^"\\]')))
    return _escape_patterns[0]


def _other_escape_text() -> re.Pattern[str]:
    _other_escape()
    return _escape_patterns[1]


def scrub_parsed(raw: bytes | str, parsed: Any, secrets: Iterable[str]) -> Any:
    """``parsed`` (the JSON ``raw`` parsed) with ``secrets`` masked: as it is when ``raw`` cannot hold
    one (``holds_nothing_to_scrub``), else through ``scrub_answer`` (which raises ``TooDeep``)."""
    secrets = tuple(secrets)
    return parsed if holds_nothing_to_scrub(raw, secrets) else scrub_answer(parsed, secrets)


def scrub_answer(obj: Any, secrets: Iterable[str]) -> Any:
    """A gateway answer with every known secret value removed from every string, keys included.

    The key becomes its short preview (``uno_abcd...wxyz``), as uno-cli masks it.
    Unlike ``strip_secrets`` it masks no field by name: an answer's ``access_token``
    is the key a login is waiting for. Applied once, where answers enter the client,
    so an echoed key never reaches a status line, an error, the journal or a file.
    Raises ``TooDeep`` for an answer nested past ``MAX_ANSWER_DEPTH``.
    """
    known = tuple(s for s in secrets if s and len(s) >= 8)

    def clean(value: Any, depth: int) -> Any:
        if depth > MAX_ANSWER_DEPTH:
            raise TooDeep(f"nested deeper than {MAX_ANSWER_DEPTH} levels")
        if isinstance(value, str):
            for secret in known:
                if secret in value:
                    # uno-cli's preview of the key, so an echoed ``api_key`` reads as uno-cli shows it.
                    value = value.replace(secret, mask_token(secret))
            return value
        if isinstance(value, dict):
            return {clean(k, depth + 1): clean(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(item, depth + 1) for item in value]
        return value

    return clean(obj, 0)


def disable_core_dumps() -> None:
    """No core file for this process: one would hold the key (and the keys of every stored account).

    Cheap (one system call), so both CLIs do it first thing; a platform without
    ``resource`` (Windows) or a limit we may not lower is left as it is.
    """
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError):
        pass
