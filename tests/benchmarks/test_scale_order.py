"""The C=256 vs C=64 figure is order-fair: ABBA blocks, and a ratio a steady drift of the machine cannot move."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import harness  # noqa: E402
import scale  # noqa: E402

#: Each batch runs this much slower than the one before it (a machine that gets busier).
DRIFT = 1.1
#: What the wide batch really takes against the narrow one, drift aside.
TRUE_RATIO = 0.8


class _NoSandbox:
    url = "http://127.0.0.1:9"

    def __init__(self, **_: Any) -> None:
        pass

    def __enter__(self) -> _NoSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_wider_figure_comes_from_abba_pairs_and_cancels_a_steady_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[tuple[int, int]] = []

    def fake_batch(ws: Any, sandbox: Any, n: int, c: int, **_: Any) -> tuple[harness.Proc, Path, Path, Path]:
        order.append((n, c))
        wall = (TRUE_RATIO if c == plan.wide else 1.0) * DRIFT ** len(order)
        return harness.Proc(wall, 1024, 0, b"", b"", cpu=0.01), tmp_path, tmp_path, tmp_path

    plan = scale.ScalePlan(small=4, large=16, concurrency=4, wide=16, delay=0.2, folder_lines=4, folder_files=1,
                           runs=1, large_runs=2)
    monkeypatch.setattr(scale, "Sandbox", _NoSandbox)
    monkeypatch.setattr(scale, "_fresh_batch", fake_batch)
    monkeypatch.setattr(scale, "_batch", lambda *args, **kwargs: harness.Proc(0.1, 1024, 0, b"", b""))
    monkeypatch.setattr(scale, "_bare_python", lambda *args: 0.05)
    monkeypatch.setattr(harness.Workspace, "log_in", lambda self, sandbox: None)
    section = scale.bench_scale(harness.Workspace(tmp_path, None, None), plan)

    large = [c for n, c in order if n == plan.large]
    assert large == [4, 16, 16, 4, 4, 16, 16, 4], "C, wide, wide, C in each block"
    wider = next(f for f in section.figures if f.id == "scale.wider")
    assert wider.ratio == pytest.approx(TRUE_RATIO, rel=1e-9)
    assert wider.runs == 4 and len(wider.samples["pair_ratios"]) == 4
    rerun = next(f for f in section.figures if f.id == "scale.rerun")
    assert rerun.runs == 4 * plan.reruns == len(rerun.samples["bare_python"]) == 12
