"""Generation parameters are checked against the tool's ranges before any credit is spent."""

from __future__ import annotations

import pytest

from gptimg import errors
from gptimg.image_tool import MAX_PROMPT_CHARS, SIZES
from gptimg.params import (
    build_request,
    check_n,
    check_prompt,
    check_size,
    check_style,
    check_submit_arguments,
)
from gptimg.styles import STYLES


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t", None, 42])
def test_empty_or_missing_prompt_is_refused(prompt):
    with pytest.raises(errors.InvalidArguments) as caught:
        check_prompt(prompt)

    assert caught.value.exit_code == errors.EXIT_BAD_INPUT
    assert caught.value.hint


def test_prompt_over_the_limit_is_refused_and_at_the_limit_accepted():
    assert check_prompt("x" * MAX_PROMPT_CHARS) == "x" * MAX_PROMPT_CHARS

    with pytest.raises(errors.InvalidArguments) as caught:
        check_prompt("x" * (MAX_PROMPT_CHARS + 1))

    assert str(MAX_PROMPT_CHARS) in caught.value.message


def test_prompt_is_passed_verbatim_in_any_language():
    prompt = "  一只红色的狐狸 — «renard» 🦊  "
    assert build_request(prompt).arguments()["prompt"] == prompt


@pytest.mark.parametrize("n", [0, 5, -1, "x", " ", True, False, 2.0, "2.5", [1]])
def test_bad_image_counts_are_refused(n):
    with pytest.raises(errors.InvalidArguments) as caught:
        check_n(n)

    assert caught.value.code == "invalid_arguments"
    assert "1" in caught.value.hint and "4" in caught.value.hint


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (4, 4), ("3", 3), (" 2 ", 2), (None, 1), ("", 1)])
def test_good_image_counts_are_accepted(n, expected):
    assert check_n(n) == expected


@pytest.mark.parametrize("size", ["512x512", "1024X1024", "1024*1024", 1024, "AUTO"])
def test_unknown_size_is_refused_with_the_valid_ones_listed(size):
    with pytest.raises(errors.InvalidArguments) as caught:
        check_size(size)

    for known in SIZES:
        assert known in caught.value.hint


@pytest.mark.parametrize("size", list(SIZES))
def test_documented_sizes_are_accepted(size):
    assert check_size(size) == size


def test_missing_size_defaults_to_square():
    assert check_size(None) == "1024x1024"


@pytest.mark.parametrize(("typo", "expected"), [("ghibli", "ghibli_anime"), ("pixar", "pixar_3d"),
                                                ("cyberpunk-neon", "cyberpunk_neon")])
def test_unknown_style_hint_suggests_close_presets(typo, expected):
    with pytest.raises(errors.InvalidArguments) as caught:
        check_style(typo)

    assert expected in caught.value.hint
    assert "gptimg styles" in caught.value.hint


def test_style_with_nothing_close_still_points_to_the_list():
    with pytest.raises(errors.InvalidArguments) as caught:
        check_style("qqqqqqqq")

    assert "gptimg styles" in caught.value.hint


def test_every_preset_style_is_accepted():
    assert len(STYLES) == 20
    for key in STYLES:
        assert check_style(key) == key


def test_build_request_builds_the_submit_arguments():
    request = build_request("a fox", size="1536x1024", n="2", style="pixel_8bit")

    assert request.arguments("https://files.test/a.png") == {
        "prompt": "a fox",
        "size": "1536x1024",
        "n": 2,
        "style": "pixel_8bit",
        "reference_image_urls": "https://files.test/a.png",
    }
    assert build_request("a fox").arguments() == {"prompt": "a fox", "size": "1024x1024", "n": 1}


def test_raw_submit_arguments_reject_n_as_a_string():
    with pytest.raises(errors.InvalidArguments):
        check_submit_arguments({"prompt": "a fox", "n": "2"})
    check_submit_arguments({"prompt": "a fox", "n": 2, "size": "auto", "extra": "passes"})
