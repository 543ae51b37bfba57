"""Manifest parsing: every problem named by its line, stable keys, both formats and stdin."""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import pytest

from gptimg.batch.manifest import ManifestError, content_key, detect_format, load_manifest, parse_manifest

from .conftest import jsonl


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")


def problems_of(text: str, fmt: str = "jsonl", base: Path | None = None) -> list[dict[str, object]]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, fmt=fmt, base=base or Path.cwd())
    assert caught.value.exit_code == 2
    return caught.value.details["errors"]


def test_jsonl_lines_get_defaults_and_their_name_as_key() -> None:
    lines = parse_manifest(
        jsonl({"prompt": "a fox", "name": "fox"}, {"prompt": "a cat", "style": "ghibli_anime", "size": "1536x1024", "n": 2}),
        fmt="jsonl", base=Path.cwd(),
    )
    assert [(line.line, line.key, line.size, line.n, line.style) for line in lines] == [
        (1, "fox", "1024x1024", 1, None),
        (2, content_key("a cat", "ghibli_anime", "1536x1024", 2, ()), "1536x1024", 2, "ghibli_anime"),
    ]
    assert lines[0].label == "fox" and lines[1].label == "a cat"


def test_unnamed_key_is_stable_and_ignores_spelled_out_defaults() -> None:
    short = parse_manifest(jsonl({"prompt": "a fox"}), fmt="jsonl", base=Path.cwd())[0]
    explicit = parse_manifest(jsonl({"prompt": "a fox", "n": 1, "size": "1024x1024"}), fmt="jsonl", base=Path.cwd())[0]
    other = parse_manifest(jsonl({"prompt": "a fox", "n": 2}), fmt="jsonl", base=Path.cwd())[0]
    assert short.key == explicit.key != other.key
    assert len(short.key) == 16


def test_every_bad_line_is_reported_with_its_line_number_before_anything_runs() -> None:
    text = "\n".join([
        json.dumps({"prompt": "fine"}),
        "",  # blank lines are skipped but still counted
        json.dumps({"prompt": "x", "size": "12x12"}),
        "not json",
        json.dumps({"promt": "typo"}),
        json.dumps(["a list"]),
        json.dumps({"prompt": "y", "style": "nope", "n": 9}),
        json.dumps({"prompt": "   "}),
    ])
    found = problems_of(text)
    assert sorted({p["line"] for p in found}) == [3, 4, 5, 6, 7, 8]
    messages = " | ".join(str(p["error"]) for p in found)
    assert "12x12" in messages and "promt" in messages and "nope" in messages and "n must be" in messages


def test_a_checks_own_hint_stays_with_its_line() -> None:
    (problem,) = problems_of(jsonl({"prompt": "x", "style": "ghibli_anim"}))
    assert "Did you mean ghibli_anime" in str(problem["error"])


def test_error_message_names_the_lines_for_people() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(jsonl({"prompt": "ok"}, {"prompt": "bad", "n": 0}), fmt="jsonl", base=Path.cwd())
    assert "line 2:" in caught.value.message
    assert "1 invalid line" in caught.value.message


def test_duplicate_names_name_both_lines() -> None:
    found = problems_of(jsonl({"prompt": "a", "name": "hero"}, {"prompt": "b"}, {"prompt": "c", "name": "hero"}))
    assert found == [{"line": 3, "error": "duplicate name 'hero': line 1 has it too"}]


def test_identical_unnamed_lines_are_duplicates() -> None:
    found = problems_of(jsonl({"prompt": "same"}, {"prompt": "same", "n": 1}))
    assert found[0]["line"] == 2 and "repeats line 1" in str(found[0]["error"])


def test_empty_manifest_is_an_error() -> None:
    assert problems_of("\n\n")[0]["error"] == "the manifest has no lines"


def test_csv_with_quoted_commas_and_a_multiline_cell_keeps_physical_line_numbers() -> None:
    text = 'prompt,style,n,name\n"a fox, red",ghibli_anime,2,fox\n"two\nlines",,,\n,,,\n"bad",,7,\n'
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, fmt="csv", base=Path.cwd())
    assert [p["line"] for p in caught.value.details["errors"]] == [6]
    lines = parse_manifest(text.replace('"bad",,7,', '"good",,,'), fmt="csv", base=Path.cwd())
    assert [(line.line, line.prompt, line.n, line.name) for line in lines] == [
        (2, "a fox, red", 2, "fox"), (3, "two\nlines", 1, None), (6, "good", 1, None)
    ]
    assert lines[0].style == "ghibli_anime"


def test_csv_header_must_name_known_columns() -> None:
    found = problems_of("prompt,colour\nred fox,red\n", fmt="csv")
    assert found[0]["line"] == 1 and "colour" in str(found[0]["error"])


def test_refs_are_resolved_against_the_manifest_folder_and_checked(tmp_path: Path) -> None:
    (tmp_path / "shot.png").write_bytes(tiny_png())
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(jsonl({"prompt": "a", "refs": ["shot.png", "https://example.com/x.png"]},
                              {"prompt": "b", "refs": "missing.png"}))
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(manifest))
    (problem,) = caught.value.details["errors"]
    assert problem["line"] == 2
    assert str(problem["error"]).startswith(f"Reference image not found: {tmp_path / 'missing.png'}")
    manifest.write_text(jsonl({"prompt": "a", "refs": ["shot.png", "https://example.com/x.png"]}))
    (line,) = load_manifest(str(manifest))
    assert line.refs == (str(tmp_path / "shot.png"), "https://example.com/x.png")
    # The key hashes the refs as written, so moving the folder keeps it.
    assert line.key == content_key("a", None, "1024x1024", 1, ("shot.png", "https://example.com/x.png"))


def test_format_detection_by_extension_then_content() -> None:
    assert detect_format("x.csv", '{"prompt": "x"}') == "csv"
    assert detect_format("x.jsonl", "prompt\n") == "jsonl"
    assert detect_format("-", '  {"prompt": "x"}') == "jsonl"
    assert detect_format("-", "prompt,name\n") == "csv"


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'\xef\xbb\xbfprompt\n"from stdin"\n')))
    (line,) = load_manifest("-")
    assert line.prompt == "from stdin"


def test_unreadable_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ManifestError):
        load_manifest(str(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize("raw", [
    '{"prompt": "fox"}', '  {"prompt": "fox"}', '{"prompt": "fox"}  ', '{"prompt": "fox"}\r', '{"a": 1} {"b": 2}',
    '{"a": 1}x', "\ufeff{\"a\": 1}", '{"a": ', "[1, 2]", "null", "12 ", "nan", "NaN", '{"a": 1, "a": 2}', "",
    '"text"', '{"a": "\\ud800"}', '{"a": 1}\u00a0',
])
def test_a_manifest_line_is_read_exactly_as_json_loads_reads_it(raw: str) -> None:
    """The quick path for the usual line accepts, rejects and words errors as json.loads does."""
    from gptimg.batch.manifest import _json_value

    try:
        expected: object = ("ok", json.loads(raw))
    except ValueError as exc:
        expected = ("error", str(exc))
    try:
        got: object = ("ok", _json_value(raw))
    except ValueError as exc:
        got = ("error", str(exc))
    assert repr(got) == repr(expected)
