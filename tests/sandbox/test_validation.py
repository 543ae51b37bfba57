from __future__ import annotations

from typing import Any

import pytest

from gptimg import image_tool, styles
from gptimg.sandbox.failures import ApiFailure
from gptimg.sandbox.validation import SubmitArguments, validate_result, validate_submit


def test_defaults_fill_in_size_and_n() -> None:
    assert validate_submit({"prompt": "猫"}) == SubmitArguments(prompt="猫", size="1024x1024", n=1)


def test_full_valid_submit_is_accepted() -> None:
    args = validate_submit({
        "prompt": "p", "size": "1536x1024", "n": 4, "style": "lego_brick",
        "reference_image_urls": "https://example.org/a.png, f_0123456789abcdef0123456789abcdef",
    })
    assert args.n == 4 and args.style == "lego_brick"
    assert args.reference_image_urls == ("https://example.org/a.png", "f_0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "p", "size": "512x512"}, "size"),
        ({"prompt": "p", "n": 0}, "n"),
        ({"prompt": "p", "n": 5}, "n"),
        ({"prompt": "p", "n": True}, "n"),
        ({"prompt": "p", "n": "2"}, "n"),
        ({"prompt": "p", "n": 2.0}, "n"),
        ({"prompt": "p", "style": "van_gogh"}, "style"),
        ({"prompt": "p", "reference_image_urls": ["https://x/a.png"]}, "reference_image_urls"),
        ({"prompt": "p", "reference_image_urls": "ftp://x/a.png"}, "reference_image_urls"),
        ({"prompt": "p", "reference_image_urls": "/home/me/a.png"}, "reference_image_urls"),
        ({"prompt": "p", "quality": "high"}, "quality"),
    ],
)
def test_out_of_range_submit_is_invalid_arguments(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiFailure) as caught:
        validate_submit(arguments)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_arguments"
    assert caught.value.body()["fields"] == [field]


def test_every_documented_style_and_size_is_accepted() -> None:
    for style in styles.STYLES:
        for size in image_tool.SIZES:
            assert validate_submit({"prompt": "p", "style": style, "size": size}).size == size


@pytest.mark.parametrize(("wait", "expected"), [(None, 0.0), (10, 10.0), (0.5, 0.5), (-3, 0.0), (500, 50.0)])
def test_wait_seconds_is_clamped_to_zero_to_fifty(wait: Any, expected: float) -> None:
    arguments = {"job_id": "abc"} if wait is None else {"job_id": "abc", "wait_seconds": wait}
    assert validate_result(arguments) == ("abc", expected)


@pytest.mark.parametrize(
    "arguments",
    [{}, {"job_id": ""}, {"job_id": 12}, {"job_id": "a", "wait_seconds": "10"},
     {"job_id": "a", "wait_seconds": True}, {"job_id": "a", "extra": 1}, ["job_id"]],
)
def test_bad_result_arguments_are_invalid_arguments(arguments: Any) -> None:
    with pytest.raises(ApiFailure) as caught:
        validate_result(arguments)
    assert caught.value.code == "invalid_arguments"
