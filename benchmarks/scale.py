"""Batches at scale (issue 15): linear in N, flat in memory, flat in the folder's size, CPU per image.

A 5,000-line batch against ``gptimg sandbox --delay 0.2`` at concurrency 64 takes
ceil(5000/64) x 0.2 s = 15.8 s if the client adds nothing. Every figure is a ratio
measured in the same run: wall / ideal, 5,000 / 500 lines, RSS 5,000 / 500, C=256 /
C=64, a batch into a crowded folder / into an empty one. Client CPU per image is
the child's own user + system time (``os.wait4``) over N: on a shared machine it
moves much less than wall time does. The sandbox's CPU per image (its process's
utime + stime from ``/proc``, Linux only) is shown beside it, as context: the two
processes share the machine's cores, so a batch's wall time depends on both.

C=256 against C=64 is measured in ABBA blocks: C=64, C=256, C=256, C=64. Run once
each, C=64 always first, the order and the machine's drift over a minute went into
the figure (C=256 "helped" only in the benchmark's order). The figure's ratio is the
geometric mean of each pair's own ratio (C=256 / the C=64 run beside it): a speed
that drifts by a steady factor from one batch to the next cancels out of it exactly.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness import Figure, Proc, Sandbox, Section, Workspace, median, ratio_of, run_measured

TITLE = "7. Batches at scale"


@dataclass
class ScalePlan:
    small: int
    large: int
    concurrency: int
    wide: int
    delay: float
    folder_lines: int
    folder_files: int
    runs: int
    #: ABBA blocks of the largest batches (C, wide, wide, C: four batches each); they take minutes on a busy
    #: 2-core machine, so fewer of them.
    large_runs: int
    #: Each finished C batch is run again this many times: a re-run is half a second, and on a VM whose speed
    #: moves by half within minutes, two samples made a noisy median.
    reruns: int = 3


FULL = ScalePlan(small=500, large=5000, concurrency=64, wide=256, delay=0.2, folder_lines=200,
                 folder_files=20_000, runs=3, large_runs=1)
#: A smoke test, not a measurement: 0.1 s jobs keep the whole ``--quick`` run under a minute with the ABBA blocks.
QUICK = ScalePlan(small=4, large=16, concurrency=4, wide=16, delay=0.1, folder_lines=4,
                  folder_files=500, runs=3, large_runs=2, reruns=1)


def sandbox_cpu(sandbox: Sandbox) -> float | None:
    """The sandbox process's CPU seconds so far (user + system), or None where ``/proc`` does not say."""
    try:
        with open(f"/proc/{sandbox._proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _manifest(ws: Workspace, n: int) -> Path:
    path = ws.fresh_dir("scale-manifest") / "batch.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"scale {i}", "name": f"img{i:05d}"}) + "\n" for i in range(n)))
    return path


def _batch(ws: Workspace, sandbox: Sandbox, manifest: Path, out: Path, home: Path, c: int, n: int) -> Proc:
    argv = ws.gptimg("batch", str(manifest), "--concurrency", str(c), "--rate-limit", "0", "--yes", "--json",
                     "--out", str(out))
    proc = run_measured(argv, ws.env(sandbox, gptimg_home=home, pythonpath=True), timeout=1800)
    proc.check(f"gptimg batch N={n} C={c}")
    return proc


def _fresh_batch(ws: Workspace, sandbox: Sandbox, n: int, c: int, *,
                 crowd: int = 0) -> tuple[Proc, Path, Path, Path]:
    """A batch of ``n`` new lines into a fresh journal and folder: (process, manifest, journal home, folder)."""
    manifest = _manifest(ws, n)
    home, out = ws.fresh_dir("scale-home"), ws.fresh_dir("scale-out")
    for i in range(crowd):
        (out / f"someone-else-{i:06d}-1.png").touch()
    before = sandbox_cpu(sandbox)
    proc = _batch(ws, sandbox, manifest, out, home, c, n)
    after = sandbox_cpu(sandbox)
    proc.sandbox_cpu = after - before if before is not None and after is not None else None  # type: ignore[attr-defined]
    saved = sum(1 for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith("someone-else-"))
    if saved < n:
        raise RuntimeError(f"gptimg batch N={n} C={c} saved {saved} of {n} images")
    return proc, manifest, home, out


def _bare_python(ws: Workspace, sandbox: Sandbox) -> float:
    """One ``python -c pass`` (this interpreter, the same environment): its wall time."""
    return run_measured([sys.executable, "-c", "pass"], ws.env(sandbox)).check("python -c pass").wall


def _abba_block(ws: Workspace, sandbox: Sandbox, plan: ScalePlan, record: Callable[[str, Proc], None],
                rerun: list[float], bare: list[float]) -> list[float]:
    """C, wide, wide, C at N=large: each batch ``record``ed ("large" or "wide"), each finished C batch run again
    (each wall into ``rerun``, and a bare ``python -c pass`` beside each into ``bare``); returns the two pairs'
    ratios, wide / C."""
    ratios = []
    for first in ("large", "wide"):
        pair: dict[str, float] = {}
        for key in (first, "wide" if first == "large" else "large"):
            proc, manifest, home, out = _fresh_batch(ws, sandbox, plan.large,
                                                     plan.wide if key == "wide" else plan.concurrency)
            record(key, proc)
            pair[key] = proc.wall
            if key == "large":  # the finished batch, run again: nothing to do
                for _ in range(plan.reruns):
                    rerun.append(_batch(ws, sandbox, manifest, out, home, plan.concurrency, plan.large).wall)
                    bare.append(_bare_python(ws, sandbox))
        ratios.append(pair["wide"] / pair["large"])
    return ratios


def bench_scale(ws: Workspace, plan: ScalePlan) -> Section:
    section = Section("batch_scale", f"{TITLE} (sandbox --delay {plan.delay:g}, --rate-limit 0)")
    c, d = plan.concurrency, plan.delay
    walls: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    sandbox_cpus: dict[str, list[float]] = {}
    rerun: list[float] = []
    bare: list[float] = []  # ``python -c pass`` beside each re-run: the interpreter's own share, and the VM's speed
    pair_ratios: list[float] = []  # C=wide / C=c, each pair's own (see the module's docstring)
    with Sandbox(delay=d) as sandbox:
        ws.log_in(sandbox)
        _fresh_batch(ws, sandbox, 2, 2)  # warm-up: bytecode, page cache

        def record(key: str, proc: Proc) -> None:
            walls.setdefault(key, []).append(proc.wall)
            rss.setdefault(key, []).append(proc.rss_kib / 1024)
            cpu.setdefault(key, []).append(proc.cpu)
            spent = getattr(proc, "sandbox_cpu", None)
            if spent is not None:
                sandbox_cpus.setdefault(key, []).append(spent)

        for _ in range(plan.runs):
            record("small", _fresh_batch(ws, sandbox, plan.small, c)[0])
            record("empty", _fresh_batch(ws, sandbox, plan.folder_lines, c)[0])
            record("crowded", _fresh_batch(ws, sandbox, plan.folder_lines, c, crowd=plan.folder_files)[0])
        for _ in range(plan.large_runs):
            pair_ratios += _abba_block(ws, sandbox, plan, record, rerun, bare)

    def mid(table: dict[str, list[float]], key: str) -> float:
        return median(table[key])

    def sandbox_note(key: str, n: int) -> str:
        """The sandbox's CPU per image beside the client's: context, not a target."""
        if key not in sandbox_cpus:
            return ""
        return f", sandbox CPU {mid(sandbox_cpus, key) / n * 1000:.1f} ms/image"

    def add(fid: str, name: str, unit: str, ours: float, ref: float | None, ref_name: str, target: str,
            met: bool, ratio: float | None, runs: int, note: str = "", samples: dict | None = None) -> None:
        section.figures.append(Figure(fid, name, unit, ours, ref, ref_name, target, met, ratio, runs, note,
                                      samples or {}))

    large_runs = len(walls["large"])  # two per ABBA block
    for key, n, runs in (("small", plan.small, plan.runs), ("large", plan.large, large_runs)):
        ideal = math.ceil(n / c) * d
        ratio = mid(walls, key) / ideal
        add(f"scale.n{n}.c{c}", f"N={n}, C={c}: wall vs ideal ceil(N/C)x{d:g} s", "s", mid(walls, key), ideal,
            "ideal", "ratio <= 1.5", ratio <= 1.5, ratio, runs,
            note=f"client CPU {mid(cpu, key) / n * 1000:.1f} ms/image{sandbox_note(key, n)}, "
                 f"peak RSS {mid(rss, key):.1f} MiB",
            samples={"ours": walls[key], "cpu_s": cpu[key], "rss_mib": rss[key],
                     "sandbox_cpu_s": sandbox_cpus.get(key, [])})
    growth = mid(walls, "large") / mid(walls, "small")
    limit = plan.large / plan.small * 1.1
    add("scale.growth", f"time, N={plan.large} vs N={plan.small} (C={c})", "s", mid(walls, "large"),
        mid(walls, "small"), f"N={plan.small}", f"ratio <= {limit:g} (linear)", growth <= limit, growth,
        large_runs)
    rss_ratio = mid(rss, "large") / mid(rss, "small")
    add("scale.rss", f"peak RSS, N={plan.large} vs N={plan.small} (C={c})", "MiB", mid(rss, "large"),
        mid(rss, "small"), f"N={plan.small}", "ratio <= 1.1 (flat)", rss_ratio <= 1.1, rss_ratio, large_runs)
    wide = math.exp(sum(math.log(r) for r in pair_ratios) / len(pair_ratios))
    add("scale.wider", f"time, C={plan.wide} vs C={c} at N={plan.large}", "s", mid(walls, "wide"),
        mid(walls, "large"), f"C={c}", "ratio < 1.0 (helps)", wide < 1.0, wide, len(pair_ratios),
        note=f"ratio: geometric mean of {len(pair_ratios)} pairs run C={c}, C={plan.wide}, C={plan.wide}, C={c} "
             f"(each {', '.join(f'{r:.2f}' for r in pair_ratios)}); ideal ratio "
             f"{math.ceil(plan.large / plan.wide) / math.ceil(plan.large / c):.2f}; C={plan.wide}: "
             f"client CPU {mid(cpu, 'wide') / plan.large * 1000:.1f} ms/image{sandbox_note('wide', plan.large)}",
        samples={"ours": walls["wide"], "reference": walls["large"], "pair_ratios": pair_ratios,
                 "cpu_s": cpu["wide"], "sandbox_cpu_s": sandbox_cpus.get("wide", [])})
    per_image = mid(cpu, "large") / plan.large * 1000
    add("scale.cpu_per_image", f"client CPU per image, N={plan.large} C={c}", "ms", per_image, None, "",
        "<= 5 ms", per_image <= 5, None, large_runs,
        note="user + system time of the gptimg process / N" + sandbox_note("large", plan.large)
        + " (context: it shares the cores)")
    crowd = ratio_of(mid(walls, "crowded"), mid(walls, "empty"))
    add("scale.crowded_folder", f"N={plan.folder_lines} into a folder of {plan.folder_files:,} files vs empty",
        "s", mid(walls, "crowded"), mid(walls, "empty"), "empty folder", "ratio <= 1.2", (crowd or 0) <= 1.2, crowd,
        plan.runs, samples={"ours": walls["crowded"], "reference": walls["empty"]})
    add("scale.rerun", f"re-run of the finished N={plan.large} batch (nothing to do)", "s", median(rerun), None,
        "", "<= 0.5 s", median(rerun) <= 0.5, None, len(rerun),
        note=f"each {', '.join(f'{r:.2f}' for r in rerun)}; a bare `python -c pass` beside each: "
             f"median {median(bare):.3f} s", samples={"ours": rerun, "bare_python": bare})
    return section
