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
