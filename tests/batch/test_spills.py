"""The batch's on-disk copies: the checked manifest and the finished lines' results, read back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptimg.batch import kept_results as kept_module
from gptimg.batch import manifest_spill
from gptimg.batch.kept_results import KeptResults
from gptimg.batch.manifest import ManifestError, ManifestLine
from gptimg.batch.manifest_spill import spill_manifest
from gptimg.batch.report import ALREADY_DONE, DONE, FAILED, LineResult

ODD_PROMPTS = ["a fox", "日本の猫 \u202e", "line\nbreak \"quoted\" \\ back", "lone \udcff surrogate", "x" * 5000]


def _lines() -> list[ManifestLine]:
    return [ManifestLine(line=3 * i + 1, key=f"k{i}", prompt=prompt, size="1024x1024", n=1 + i % 2,
                         style=None if i % 2 else "ghibli_anime", refs=(f"/refs/{i}.png",) if i else (),
                         name=f"n{i}" if i % 3 else None)
            for i, prompt in enumerate(ODD_PROMPTS * 40)]


@pytest.mark.parametrize("positioned", [True, False], ids=["pread", "seek"])
def test_a_spilled_manifest_reads_back_every_line_exactly_by_index_and_in_order(
    monkeypatch: pytest.MonkeyPatch, positioned: bool
) -> None:
    if not positioned:
        monkeypatch.setattr(manifest_spill, "_PREAD", None)
        monkeypatch.setattr(manifest_spill, "_PWRITE", None)
    lines = _lines()
    spilled = manifest_spill.SpilledManifest()
    for line in lines:
        spilled.append(line)
    spilled.seal()
    assert len(spilled) == len(lines)
    assert list(spilled) == lines
    assert [spilled[i] for i in (0, 7, -1, len(lines) - 1)] == [lines[0], lines[7], lines[-1], lines[-1]]
    assert spilled[2:5] == lines[2:5]
    assert list(spilled.numbers) == [line.line for line in lines]
    with pytest.raises(IndexError):
        spilled[len(lines)]


def test_a_spilled_manifest_falls_back_to_memory_when_the_disk_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full /tmp mid-spill: what was written and what was pending all come back, in order; nothing is lost."""
    lines = _lines()
    spilled = manifest_spill.SpilledManifest()
    monkeypatch.setattr(manifest_spill, "_FLUSH_BYTES", 2048)
    real_write_at, calls = manifest_spill.write_at, []

    def full_after_two(file: object, data: bytes, offset: int) -> None:
        calls.append(offset)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        real_write_at(file, data, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(manifest_spill, "write_at", full_after_two)
    for line in lines:
        spilled.append(line)
    spilled.seal()
    assert len(calls) == 3
    assert list(spilled) == lines and spilled[-1] == lines[-1]


def test_spill_manifest_refuses_a_bad_file_whole_and_reads_a_good_one_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": ""}\n')
    with pytest.raises(ManifestError):
        spill_manifest(str(bad))
    good = tmp_path / "good.jsonl"
    good.write_bytes(b'\xef\xbb\xbf{"prompt": "one"}\r\n\n{"prompt": "two", "name": "b"}')
    spilled = spill_manifest(str(good))
    good.write_text('{"prompt": "changed"}\n')
    assert [(line.line, line.prompt, line.name) for line in spilled] == [(1, "one", None), (3, "two", "b")]


def test_a_manifest_that_is_not_utf8_names_the_byte_as_before(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_bytes(b"\xef\xbb\xbfone\ntwo \xff\n")
    with pytest.raises(ManifestError, match=r"not UTF-8 text \(byte 8\)"):
        spill_manifest(str(path))


def _results(lines: list[ManifestLine]) -> list[LineResult]:
    results = []
    for i, line in enumerate(lines):
        if i % 7 == 3:
            results.append(LineResult(line, FAILED, job_id=f"j{i}", error="boom", code="generation_failed"))
        else:
            files = [f"/out/{line.prompt[:20]}-{i}-{k}.png" for k in range(line.n)]
            results.append(LineResult(line, DONE if i % 2 else ALREADY_DONE, job_id=f"j{i}", files=files,
                                      credits_used=None if i % 2 == 0 else (300 if i % 4 == 1 else 12.5)))
    return results


def _same(a: LineResult, b: LineResult) -> bool:
    return a.to_dict() == b.to_dict() and a.line == b.line and a.hint == b.hint


@pytest.mark.parametrize(("flush_bytes", "read_bytes"), [(1 << 16, 1 << 16), (512, 1 << 16), (512, 48)])
@pytest.mark.parametrize("positioned", [True, False], ids=["pread", "seek"])
def test_kept_results_come_back_exactly_in_manifest_order_whatever_order_they_arrived_in(
    monkeypatch: pytest.MonkeyPatch, flush_bytes: int, read_bytes: int, positioned: bool
) -> None:
    """Records straddle the blocks they are read in, and (``read_bytes`` 48) most are longer than a block."""
    monkeypatch.setattr(kept_module, "_FLUSH_BYTES", flush_bytes)
    monkeypatch.setattr(kept_module, "_READ_BYTES", read_bytes)
    if not positioned:  # where there is no os.pread (Windows): a seek and a read under a lock
        monkeypatch.setattr(manifest_spill, "_PREAD", None)
        monkeypatch.setattr(manifest_spill, "_PWRITE", None)
    lines = _lines()
    results = _results(lines)
    kept = KeptResults(lines)
    for result in results[1::2] + results[::2]:  # out of order, as workers finish
        kept.keep(result)
    for _ in range(2):  # iterable again
        back = list(kept)
        assert len(back) == len(results) and all(_same(a, b) for a, b in zip(back, results))
        # What the contact sheet reads (spilled and in-memory results alike), without a LineResult each.
        assert list(kept.saved()) == [(r.line.line, r.line.name, r.line.style, r.line.size, r.line.prompt, r.job_id,
                                       r.files) for r in results]
    assert [r.line.line for r in kept.unsettled()] == [r.line.line for r in results if r.status == FAILED]
    assert all(r in kept.unsettled() for r in results if r.status == FAILED)  # the very objects (hints are set later)


def test_kept_results_stay_in_memory_when_the_temporary_file_cannot_be_written(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept_module, "_FLUSH_BYTES", 512)

    def no_space(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kept_module, "write_at", no_space)
    lines = _lines()
    results = _results(lines)
    kept = KeptResults(lines)
    for result in reversed(results):
        kept.keep(result)
    back = list(kept)
    assert len(back) == len(results) and all(_same(a, b) for a, b in zip(back, results))
