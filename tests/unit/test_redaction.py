"""The masking chokepoint: no printed payload can carry a key."""

from __future__ import annotations

import json

import pytest

from gptimg.redaction import SECRET_FIELD_NAMES, mask_token, strip_secrets

from ._support import KEY

LONG = "uno_abcdefgh_ijklmnop_wxyz"


def test_every_documented_secret_field_name_is_masked():
    assert SECRET_FIELD_NAMES == {
        "api_key", "apikey", "access_token", "refresh_token", "token", "secret", "client_secret", "password"
    }
    masked = strip_secrets({name: LONG for name in SECRET_FIELD_NAMES})

    assert masked == {name: "uno_abcd...wxyz" for name in SECRET_FIELD_NAMES}


def test_secret_fields_are_masked_at_any_depth():
    payload = {
        "data": {
            "accounts": [
                {"name": "a", "api_key": LONG, "sessions": [{"access_token": LONG, "note": "kept"}]},
                [{"refresh_token": "short"}],
            ]
        },
        "items": ({"client_secret": LONG},),
    }

    out = strip_secrets(payload)

    account = out["data"]["accounts"][0]
    assert account["api_key"] == "uno_abcd...wxyz"
    assert account["sessions"][0] == {"access_token": "uno_abcd...wxyz", "note": "kept"}
    assert out["data"]["accounts"][1][0]["refresh_token"] == "***"
    assert out["items"][0]["client_secret"] == "uno_abcd...wxyz"
    assert LONG not in json.dumps(out)


def test_secret_names_match_case_insensitively():
    out = strip_secrets({"API_KEY": LONG, "Token": LONG, "PassWord": "hunter2"})

    assert out == {"API_KEY": "uno_abcd...wxyz", "Token": "uno_abcd...wxyz", "PassWord": "***"}


def test_secrets_nested_under_a_secret_named_field_are_masked_too():
    out = strip_secrets({"secret": {"api_key": LONG, "kind": "bearer"}, "token": [{"password": LONG}]})

    assert LONG not in json.dumps(out)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("", "***"),
        ("abc", "***"),
        ("12345678901", "***"),  # 11 characters: too short to preview
        ("123456789012", "12345678...9012"),  # 12: first 8, '...', last 4
        (LONG, "uno_abcd...wxyz"),
        (None, None),
        (12345, 12345),
    ],
)
def test_mask_token_previews_long_values_and_hides_short_ones(value, masked):
    assert mask_token(value) == masked


def test_known_secret_values_are_scrubbed_from_free_text():
    payload = {"message": f"Invalid API key: {KEY} (check it)", "list": [f"key={KEY}"], "other": "fine"}

    out = strip_secrets(payload, secrets=[KEY])

    assert KEY not in json.dumps(out)
    assert out["message"].startswith("Invalid API key: ")
    assert out["message"].endswith(" (check it)")
    assert out["other"] == "fine"


def test_strip_secrets_does_not_change_its_input():
    payload = {"api_key": LONG, "nested": [{"token": LONG}]}
    snapshot = json.dumps(payload)

    strip_secrets(payload, secrets=[LONG])

    assert json.dumps(payload) == snapshot


# --- json_without_secrets: the --json lines' fast path must print exactly what the masking copy prints ---

TRICKY_SECRETS = [KEY, 'uno_"quoted"\\back', "uno_line\nbreak\tX", "uno_ünïcødé_\u202e_key", "uno_\x01ctrl_key01"]


def _slow(obj: object, secrets: list[str]) -> str:
    return json.dumps(strip_secrets(obj, secrets), ensure_ascii=False, default=str)


class _Shown:
    """Printed through ``default=str``: neither path looks inside it, both print the same."""

    def __str__(self) -> str:
        return "shown"


@pytest.mark.parametrize("secret", TRICKY_SECRETS)
@pytest.mark.parametrize("payload_of", [
    lambda s: {"error": f"the gateway said {s}!"},
    lambda s: {"data": {"files": ["a.png", f"/tmp/{s}.png"]}, "meta": {}},
    lambda s: {"items": ({"note": [[f"..{s}.."]]},)},
    lambda s: {"Token": "uno_abcdefgh_ijklmnop", "x": 1},
    lambda s: {"to\u212aen": "uno_abcdefgh_ijklmnop"},  # KELVIN SIGN: "tokEn".lower() == "token"
    lambda s: {"nested": {"PASSWORD": {"inner": s}}},
    lambda s: {f"key {s}": "a key is not masked by strip_secrets either"},
    lambda s: {"line": 3, "status": "done", "files": ["x.png"], "credits_used": 0.5, "job_id": None},
    lambda s: {"obj": _Shown(), "none": None, "flag": True},
])
def test_json_lines_print_exactly_what_the_masking_copy_prints(secret: str, payload_of: object) -> None:
    from gptimg.redaction import json_without_secrets

    payload = payload_of(secret)  # type: ignore[operator]
    text = json_without_secrets(payload, [secret, "", "short"])
    assert text == _slow(payload, [secret, "", "short"])
    assert not any(secret in value for value in _values(json.loads(text)))


def _values(obj: object) -> list[str]:
    """Every string value (not key) of a parsed document: where the key must never be."""
    if isinstance(obj, dict):
        return [v for value in obj.values() for v in _values(value)]
    if isinstance(obj, list):
        return [v for value in obj for v in _values(value)]
    return [obj] if isinstance(obj, str) else []


def test_json_lines_match_the_masking_copy_on_random_documents() -> None:
    """Random nests of dicts, lists and strings cut from secrets, secret names and JSON's own punctuation."""
    import random

    from gptimg.redaction import json_lines_without_secrets, json_without_secrets

    rng = random.Random(15)
    pieces = [*TRICKY_SECRETS, *SECRET_FIELD_NAMES, "API_KEY", '"', "\\", ": ", '": "', "\n", "é", "\u2028", "a", ""]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))

    def value(depth: int) -> object:
        kind = rng.random()
        if depth > 3 or kind < 0.4:
            return rng.choice([text(), text(), 7, None, 1.5, True])
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {text(): value(depth + 1) for _ in range(rng.randint(0, 3))}

    masked = 0
    for _ in range(3000):
        secrets = rng.sample(TRICKY_SECRETS, rng.randint(0, 2))
        document = value(0)
        fast = json_without_secrets(document, secrets)
        assert fast == _slow(document, secrets), document
        masked += fast != json.dumps(document, ensure_ascii=False, default=str)
    assert masked > 150, "the random documents must often need masking, or they test nothing"
    for _ in range(300):  # a batch's lines, written (and searched) together
        secrets = rng.sample(TRICKY_SECRETS, rng.randint(0, 2))
        documents = [value(1) for _ in range(rng.randint(1, 12))]
        assert json_lines_without_secrets(documents, secrets) == "\n".join(_slow(d, secrets) for d in documents)


# --- the fast path: an answer that cannot hold the key is not walked -------------------------------


def _spellings(key: str) -> list[bytes]:
    """Answers holding ``key`` every way JSON can spell it, and answers that hold none of it."""
    escaped_u = "".join(f"\\u{ord(c):04x}" for c in key)
    first_escaped = f"\\u{ord(key[0]):04x}" + key[1:]
    slashed = key[:4] + "\\/" + key[4:]  # "\/" decodes to "/": the key with a slash in it
    return [
        json.dumps({"data": {"status": f"running as {key}"}}).encode(),
        json.dumps({"meta": {key: 1}}).encode(),  # the key as a name, not a value
        ('{"data": {"status": "running as ' + escaped_u + '"}}').encode(),
        ('{"items": [{"url": "https://cdn.test/0.png?token=' + first_escaped + '"}]}').encode(),
        ('{"note": "' + slashed + '"}').encode(),
        json.dumps({"data": {"status": "done", "items": [{"url": "https://cdn.test/0.png"}]}}).encode(),
        json.dumps({"data": {"status": f"caf\u00e9 {key[:-1]}"}}, ensure_ascii=False).encode(),
        ("[" * 64 + "1" + "]" * 64).encode(),
        ("[" * 65 + "1" + "]" * 65).encode(),
        ('{"a": "' + "{" * 70 + '"}').encode(),  # braces in a string: counted, so walked; harmless
        # MCP shape: the inner JSON is text, full of \" and \\ escapes, with the key in it or not
        json.dumps({"content": [{"type": "text", "text": json.dumps({"status": f"as {key}"})}]}).encode(),
        json.dumps({"content": [{"type": "text", "text": json.dumps({"status": "running", "p": "a\\b"})}]}).encode(),
        json.dumps({"note": key[:5] + '"' + key[5:]}).encode(),  # split by an escaped quote: not the key
        json.dumps({"note": key[:5] + "\\" + key[5:]}).encode(),  # split by an escaped backslash
        json.dumps({"note": key[:5] + "\n" + key[5:]}).encode(),  # split by \n
        ('{"note": "' + key[:5] + '\\\\u0041' + key[5:] + '"}').encode(),  # \\ then a literal u0041
    ]


@pytest.mark.parametrize("key", [KEY, "uno_with/slash_0123456789", "uno_caf\u00e9_0123456789",
                                 'uno_with"quote_0123456789', "uno_with\\backslash_01234567"])
def test_an_answer_is_spared_the_walk_only_when_the_walk_would_change_nothing(key: str) -> None:
    from gptimg.redaction import TooDeep, holds_nothing_to_scrub, scrub_answer

    spared = walked = 0
    for raw in _spellings(key):
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except ValueError:  # a hand-spelled answer a key with a quote breaks: not JSON, not scrubbed
            continue
        try:
            scrubbed, too_deep = scrub_answer(parsed, [key]), False
        except TooDeep:
            scrubbed, too_deep = None, True
        if holds_nothing_to_scrub(raw, [key]):
            spared += 1
            assert not too_deep and scrubbed == parsed, raw
        else:
            walked += 1
    assert spared >= 2 and walked >= 5  # both paths are taken by these answers
    for raw in _spellings(key):  # the text form (an MCP answer's inner JSON) agrees with the bytes form
        assert holds_nothing_to_scrub(raw.decode("utf-8"), [key]) == holds_nothing_to_scrub(raw, [key])


def test_a_key_echoed_with_json_escapes_is_still_masked_in_what_the_client_returns(gateway, make_client):
    """A hostile gateway spells the key with \\u escapes so no byte of the answer matches it."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    gateway.post("/v1/call").respond(
        200, content=('{"data": {"status": "running as ' + escaped + '", "job_id": "job_1"}}').encode(),
        headers={"content-type": "application/json"},
    )
    answer = make_client().call_tool("gpt-image-2__get_result", {"job_id": "job_1"}, timeout=5, retry=False)
    assert KEY not in json.dumps(answer, ensure_ascii=False)
    assert mask_token(KEY) in json.dumps(answer, ensure_ascii=False)


def test_a_key_echoed_inside_an_mcp_text_answer_is_masked_once_the_text_is_parsed(gateway, make_client):
    """MCP answers carry their JSON as text; escapes in that inner JSON only become the key when the
    client parses it, after the outer answer was scrubbed, so the parsed text must be scrubbed too."""
    inner_escaped = "".join(f"\\\\u{ord(c):04x}" for c in KEY)  # \\u0075... in the outer JSON: \u0075... in the text
    outer = '{"data": {"content": [{"type": "text", "text": "{\\"status\\": \\"running as ' + inner_escaped + \
        '\\", \\"job_id\\": \\"job_1\\"}"}]}}'
    gateway.post("/v1/call").respond(200, content=outer.encode(), headers={"content-type": "application/json"})
    answer = make_client().call_tool("gpt-image-2__get_result", {"job_id": "job_1"}, timeout=5, retry=False)
    assert isinstance(answer.data, dict) and answer.data["job_id"] == "job_1"  # the text was parsed
    assert KEY not in json.dumps(answer.data, ensure_ascii=False)
