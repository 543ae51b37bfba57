"""``terminal.json_text``'s ASCII shortcut and its lazily compiled patterns escape exactly what they did."""

from __future__ import annotations

import json

from gptimg.terminal import has_unsafe, json_text, neutralise

#: Everything json.dumps(ensure_ascii=False) leaves raw that a terminal may obey.
JSON_UNSAFE = {0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x2028, 0x202F), *range(0x2066, 0x206A)}


def test_del_is_escaped_although_it_is_ascii() -> None:
    document = json.dumps({"name": "Eve\x7f"}, ensure_ascii=False)
    assert json_text(document) == '{"name": "Eve\\u007f"}'
    assert json.loads(json_text(document)) == {"name": "Eve\x7f"}


def test_every_character_up_to_u2100_is_escaped_exactly_when_a_terminal_could_obey_it() -> None:
    for code in range(0x20, 0x2100):
        char = chr(code)
        if char in '"\\':
            continue
        document = json.dumps({"v": f"a{char}b"}, ensure_ascii=False)
        expected = document.replace(char, f"\\u{code:04x}") if code in JSON_UNSAFE else document
        assert json_text(document) == expected, hex(code)
        assert json.loads(json_text(document)) == {"v": f"a{char}b"}


def test_plain_ascii_comes_back_as_the_same_object() -> None:
    document = json.dumps({"success": True, "data": {"email": "eve@example.invalid"}})
    assert json_text(document) is document


def test_human_text_is_neutralised_with_the_patterns_compiled_on_first_use() -> None:
    hostile = "ok\x1b[2J\u202egnp.exe\tnext\nline"
    assert neutralise(hostile) == "ok\\x1b[2J\\u202egnp.exe\tnext\nline"
    assert neutralise(hostile, one_line=True) == "ok\\x1b[2J\\u202egnp.exe\\tnext\\nline"
    assert has_unsafe(hostile) and not has_unsafe("plain text\twith a tab\n")


def _by_the_full_class(text: str, *, one_line: bool = False) -> str:
    """What ``neutralise`` did before its ASCII shortcut: the full character class, always."""
    import re

    from gptimg import terminal

    chars = terminal._UNSAFE_OR_NEWLINE_CHARS if one_line else terminal._UNSAFE_CHARS
    return re.compile(f"[{chars}]").sub(terminal._visible, text)


def test_ascii_text_is_escaped_as_the_full_class_escapes_it() -> None:
    """Every ASCII character, alone, between letters and after a non-ASCII one, either way, as before."""
    for code in range(0x80):
        for text in (chr(code), f"a{chr(code)}b", f"job {chr(code)}\x1b[2J done", f"\u00e9{chr(code)}"):
            for one_line in (False, True):
                assert neutralise(text, one_line=one_line) == _by_the_full_class(text, one_line=one_line), \
                    (hex(code), one_line)
            assert has_unsafe(text) == (_by_the_full_class(text) != text), hex(code)


def test_a_download_url_is_refused_for_exactly_the_characters_python_calls_white_space() -> None:
    """``check_download_url`` tests white space with one regular expression; it must agree with
    ``str.isspace`` on every code point, or a URL with an odd space would be fetched."""
    import sys

    from gptimg.gateway.bodies import _has_space

    disagree = [c for c in map(chr, range(sys.maxunicode + 1)) if _has_space(f"https://a.test/{c}") != c.isspace()]
    assert disagree == []
