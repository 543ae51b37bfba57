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
