"""A batch's --json lines for lines already done come from a template: the same bytes, the same masking."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from gptimg.batch.manifest import ManifestLine
from gptimg.batch.report import ALREADY_DONE, DONE, FAILED, LineResult
from gptimg.cli.output import Output
from gptimg.redaction import JsonText

KEY = "uno_sk_live_0123456789abcdef"
ODD = ['plain', 'quote " and \\ back', "line\nbreak\ttab\x01", "ünïcødé \u2028 \u202e", "lone \udcff surrogate",
       f"holds the key {KEY} inside", "\x7f del", ""]


def results() -> list[LineResult]:
    out = []
    for number, text in enumerate(ODD, start=1):
        line = ManifestLine(line=number, key=f"k{text}", prompt=text or "p", size="1024x1024", n=1,
                            name=None if number % 3 == 0 else text or None)
        out.append(LineResult(line, ALREADY_DONE, job_id=None if number == 2 else f"j{text}",
                              files=[] if number == 4 else [f"/out/{text}.png", f"/out/{text}-2.png"][: number % 2 + 1]))
    line = out[0].line
    out += [LineResult(line, DONE, job_id="j", files=["/x.png"], credits_used=300.0),
            LineResult(line, FAILED, job_id="j", error="boom", code="generation_failed", hint="h"),
            LineResult(line, ALREADY_DONE, job_id="j", files=[Path("/a path.png")]),  # type: ignore[list-item]
            LineResult(line._replace(line=True), ALREADY_DONE, job_id="j")]
    return out


@pytest.mark.parametrize("result", results(), ids=lambda r: repr(r.line.prompt)[:20])
def test_the_template_is_the_dicts_json_or_nothing(result: LineResult) -> None:
    text = result.json_text()
    if result.error is not None or result.credits_used is not None or type(result.line.line) is not int or any(
            not isinstance(f, str) for f in result.files):
        assert text is None
    else:
        assert text == json.dumps(result.to_dict(), ensure_ascii=False, default=str)


@pytest.mark.parametrize("utf8", [True, False], ids=["utf-8 stdout", "ascii stdout"])
def test_template_lines_print_and_mask_exactly_as_their_dicts(monkeypatch: pytest.MonkeyPatch, utf8: bool) -> None:
    """Printed through Output with the key known: byte for byte what the dicts print, the key masked in both."""
    printed = []
    for template in (False, True):
        stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8" if utf8 else "ascii", errors="surrogateescape")
        monkeypatch.setattr(sys, "stdout", stdout)
        output = Output(json_mode=True)
        output.secrets = [KEY]
        for result in results():
            text = result.json_text() if template else None
            output.emit_json(result.to_dict() if text is None else JsonText(text, result.to_dict), flush=False)
        output.flush()
        stdout.flush()
        printed.append(stdout.buffer.getvalue())  # type: ignore[attr-defined]
    assert printed[0] == printed[1]
    assert KEY.encode() not in printed[1] and b"[redacted]" in printed[1]
