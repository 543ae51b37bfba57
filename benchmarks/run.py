#!/usr/bin/env python3
"""gptimg's speed, measured side by side with the reference client, offline.

``python benchmarks/run.py [--quick]`` starts sandbox gateways on 127.0.0.1,
runs our CLIs and uno-cli 1.0.7 against them, prints one markdown table and
writes ``benchmarks/results.json``. See ``benchmarks/README.md``.

Why it is built the way it is:

* Every measured command is its own process, timed with ``perf_counter`` around
  launch and reap, and reaped with ``os.wait4`` so its own peak RSS is read
  (``RUSAGE_CHILDREN`` deltas mix up every child the runner ever had).
* Ours and the reference alternate run by run, and each figure is a median, so a
  noisy neighbour hurts both sides alike.
* Children run with a temporary HOME (credentials) and GPTIMG_HOME (journal), no
  proxy variables, and with bytecode caching allowed: users run installed code with
  ``.pyc`` files, so a ``PYTHONDONTWRITEBYTECODE`` in the developer's shell would
  measure compilation, not gptimg.
* A section whose command is missing (``gptimg batch`` not merged yet, uno-cli not
  installed) is reported "not available" instead of failing the run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import human
import scale
from harness import (
    MIB,
    PY,
    REPO,
    RESULT,
    RESULTS,
    SRC,
    SUBMIT,
    BenchmarkError,
    Figure,
    Proc,
    Sandbox,
    Section,
    Workspace,
    _flatten,
    agent_cli_figures,
    alternate,
    find_uno,
    gptimg_has,
    median,
    our_generate,
    ratio_of,
    run_measured,
)

TITLES = {
    "startup": "1. Start-up (no network)",
    "agent_call": "2. One agent call against the sandbox",
    "end_to_end": "3. One image end to end",
    "batch": "4. Batch scaling",
    "download": "5. Download (peak RSS growth)",
    "agent_economy": "6. Agent economy: one image saved",
    "batch_scale": scale.TITLE,
    "human_startup": human.STARTUP_TITLE,
    "download_speed": human.DOWNLOAD_TITLE,
    "journal": "7. Journal listing (10,000 rows)",
}


# --- 1. start-up ----------------------------------------------------------------------------


def bench_startup(ws: Workspace, runs: int) -> Section:
    section = Section("startup", "1. Start-up (no network)")
    if ws.uno_cmd is None:
        section.available, section.reason = False, "uno-cli is not installed (pip install uno-cli==1.0.7)"
        return section
    env = ws.env()
    cases = [
        ("startup.version", "`--version`", ["--version"]),
        ("startup.dry_run", "`call submit --dry-run`",
         ["call", SUBMIT, "--args", '{"prompt":"x"}', "--dry-run"]),
    ]
    for fid, name, args in cases:
        def once(argv: list[str], what: str = args[0]) -> Proc:
            return run_measured(argv, env).check(f"{argv[0]} ... {what}")

        section.figures += agent_cli_figures(fid, name, 0.5, runs, once, ws, args)
    return section


# --- 2. one agent call --------------------------------------------------------------------


def bench_agent_call(ws: Workspace, runs: int) -> Section:
    section = Section("agent_call", "2. One agent call against the sandbox")
    if ws.uno_cmd is None:
        section.available, section.reason = False, "uno-cli is not installed"
        return section
    with Sandbox(delay=0.2) as sandbox:
        ws.log_in(sandbox)
        env = ws.env(sandbox)
        job_id, _ = sandbox.finished_job()
        poll = json.dumps({"job_id": job_id, "wait_seconds": 50})
        cases = [
            ("agent.whoami", "`whoami`", ["whoami", "--compact"]),
            ("agent.result", "`call result` (finished job)",
             ["call", RESULT, "--compact", "--timeout", "70", "--args", poll]),
        ]
        for fid, name, args in cases:
            def once(argv: list[str], what: str = " ".join(args[:2])) -> Proc:
                proc = run_measured(argv, env).check(what)
                if not proc.json().get("success"):
                    raise BenchmarkError(f"{argv[:3]} did not succeed: {proc.stdout[:300]!r}")
                return proc

            section.figures += agent_cli_figures(fid, name, 0.8, runs, once, ws, args)
    return section


# --- 3. one image end to end (and 6. agent economy, from the same runs) ---------------------


@dataclass
class FlowRun:
    """One agent flow for one image: wall time, processes launched, stdout bytes the agent read."""

    wall: float
    processes: int
    stdout_bytes: int
    polls: int = 0


def seed_flow(argv_prefix: list[str], env: dict[str, str], out_dir: Path) -> FlowRun:
    """The seed skill's "Reference Python loop": one submit, then result polls, a process per call.

    The download the agent must then do itself (one more process, as with curl) is
    counted in processes and bytes but not in ``wall``, which is what section 3 times.
    """
    launched = 0
    read = 0

    def uno(args: list[str]) -> Any:
        nonlocal launched, read
        launched += 1
        result = subprocess.run(argv_prefix + args, capture_output=True, env=env)
        read += len(result.stdout)
        return json.loads(result.stdout)

    start = time.perf_counter()
    resp = uno(["call", SUBMIT, "--compact", "--args", json.dumps({"prompt": "benchmark image"})])
    job_id = resp["data"]["job_id"]
    polls = 0
    url = None
    for _ in range(6):
        polls += 1
        r = uno(["call", RESULT, "--compact", "--timeout", "70",
                 "--args", json.dumps({"job_id": job_id, "wait_seconds": 50})])
        status = r["data"].get("status") if isinstance(r.get("data"), dict) else None
        if status is None:  # uno-cli 1.0.7 leaves the sandbox's MCP-shaped answer unflattened
            r["data"] = _flatten(r["data"])
            status = r["data"]["status"]
        if status == "done":
            url = r["data"]["items"][0]["url"]
            break
        if status == "error":
            raise BenchmarkError(f"seed flow: job failed: {r}")
    wall = time.perf_counter() - start
    if url is None:
        raise BenchmarkError("seed flow: the job never finished")
    download = [PY, "-c", "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])",
                url, str(out_dir / "image.png")]
    if shutil.which("curl"):
        download = ["curl", "-sS", "--noproxy", "*", "-o", str(out_dir / "image.png"), url]
    launched += 1
    fetched = subprocess.run(download, capture_output=True, env=env)
    read += len(fetched.stdout)
    if fetched.returncode != 0:
        raise BenchmarkError(f"seed flow: download failed: {fetched.stderr[-300:]!r}")
    return FlowRun(wall, launched, read, polls)


def bench_end_to_end(ws: Workspace, runs: int, delay: float, has_generate: bool) -> tuple[Section, Section]:
    e2e = Section("end_to_end", f"3. One image end to end (sandbox --delay {delay:g})")
    economy = Section("agent_economy", "6. Agent economy: one image saved")
    if not has_generate and ws.uno_cmd is None:
        for s in (e2e, economy):
            s.available, s.reason = False, "neither `gptimg generate` nor uno-cli is available"
        return e2e, economy
    flows: dict[str, list[FlowRun]] = {}
    with Sandbox(delay=delay) as sandbox:
        ws.log_in(sandbox)
        env = ws.env(sandbox)
        sides: dict[str, Callable[[], float]] = {}

        def ours_once() -> float:
            proc, _ = our_generate(ws, sandbox)
            flows.setdefault("ours", []).append(FlowRun(proc.wall, 1, len(proc.stdout)))
            return proc.wall - delay

        def seed_once(key: str, prefix: list[str]) -> float:
            run = seed_flow(prefix, env, ws.fresh_dir("seed"))
            flows.setdefault(key, []).append(run)
            return run.wall - delay

        if has_generate:
            sides["ours"] = ours_once
        if ws.uno_cmd is not None:
            sides["seed_uno"] = lambda: seed_once("seed_uno", ws.ref())
        sides["seed_ours"] = lambda: seed_once("seed_ours", ws.ours())
        # One untimed pass first (it also compiles the CLI's bytecode); then reset the counters.
        samples = alternate(runs, sides, warmup=True)
        for key in flows:
            flows[key] = flows[key][1:]

    ours = median(samples["ours"]) if "ours" in samples else None
    ref = median(samples["seed_uno"]) if "seed_uno" in samples else None
    ratio = ratio_of(ours, ref)
    e2e.figures.append(Figure(
        "e2e.overhead", "client overhead, `gptimg generate --yes --json` vs seed loop with uno-cli", "s",
        ours, ref, "seed loop (uno-cli)", "ours <= 0.5 s", None if ours is None else ours <= 0.5, ratio, runs,
        note="wall time - sandbox delay; ours submits, long-polls and saves the image; "
             "the seed loop stops at the URL (no download)" + ("" if has_generate else "; `gptimg generate` "
                                                                "not available"),
        samples={k: v for k, v in samples.items()}))
    seed_ours = median(samples["seed_ours"])
    e2e.figures.append(Figure(
        "e2e.seed_loop_ours", "seed loop with bin/uno.py vs seed loop with uno-cli", "s", seed_ours, ref,
        "seed loop (uno-cli)", "ratio <= 1.0", None if ref is None else seed_ours <= ref,
        ratio_of(seed_ours, ref), runs, note="same loop, a process per call; overhead = wall - delay"))

    def mid(key: str, attr: str) -> float | None:
        return median([getattr(r, attr) for r in flows[key]]) if flows.get(key) else None

    for attr, unit, label in (("processes", "processes", "process launches"),
                              ("stdout_bytes", "bytes", "stdout bytes read by the agent")):
        o, r = mid("ours", attr), mid("seed_uno", attr)
        rat = ratio_of(o, r)
        economy.figures.append(Figure(
            f"economy.{attr}", f"{label}: `gptimg generate --yes --json` vs seed flow (uno-cli)", unit, o, r,
            "seed flow (uno-cli)", "ours < reference", None if rat is None else rat < 1.0, rat, runs,
            note=f"seed flow = submit + {mid('seed_uno', 'polls') or mid('seed_ours', 'polls'):.0f} poll(s) + "
                 "a download (curl); a real ~150 s job needs 3-5 polls with wait_seconds=50, ours still 1 process"))
    o, r = mid("seed_ours", "stdout_bytes"), mid("seed_uno", "stdout_bytes")
    economy.figures.append(Figure(
        "economy.seed_bytes_ours", "stdout bytes: seed flow with bin/uno.py vs with uno-cli", "bytes", o, r,
        "seed flow (uno-cli)", "ratio <= 1.0", None if ratio_of(o, r) is None else o <= r,  # type: ignore[operator]
        ratio_of(o, r), runs, note="bin/uno.py flattens the MCP-shaped result; uno-cli 1.0.7 prints it as sent"))
    return e2e, economy


# --- 4. batch scaling -----------------------------------------------------------------------


def batch_argv(ws: Workspace, manifest: Path, out: Path, concurrency: int) -> list[str]:
    return ws.gptimg("batch", str(manifest), "--concurrency", str(concurrency), "--rate-limit", "0",
                     "--yes", "--json", "--out", str(out))


def bench_batch(ws: Workspace, runs: int, sizes: list[int], concurrencies: list[int], delay: float,
                has_batch: bool) -> Section:
    section = Section("batch", f"4. Batch scaling (sandbox --delay {delay:g}, --rate-limit 0)")
    if not has_batch:
        section.available, section.reason = False, "`gptimg batch` is not available in this checkout"
        return section
    rss: dict[tuple[int, int], float] = {}
    with Sandbox(delay=delay) as sandbox:
        ws.log_in(sandbox)
        for n in sizes:
            manifest = ws.fresh_dir("manifest") / "batch.jsonl"
            manifest.write_text("".join(json.dumps({"prompt": f"benchmark {i}", "name": f"img{i:04d}"}) + "\n"
                                        for i in range(n)))
            for c in concurrencies:
                walls: list[float] = []
                peaks: list[float] = []
                for _ in range(runs):
                    home, out = ws.fresh_dir("batch-home"), ws.fresh_dir("batch-out")
                    argv = batch_argv(ws, manifest, out, c)
                    proc = run_measured(argv, ws.env(sandbox, gptimg_home=home, pythonpath=True))
                    proc.check(f"gptimg batch N={n} C={c}")
                    saved = sum(1 for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
                    if saved < n:
                        raise BenchmarkError(f"gptimg batch N={n} C={c} saved {saved} of {n} images")
                    walls.append(proc.wall)
                    peaks.append(proc.rss_kib / 1024)
                ideal = math.ceil(n / c) * delay
                wall = median(walls)
                rss[(n, c)] = median(peaks)
                ratio = wall / ideal
                section.figures.append(Figure(
                    f"batch.n{n}.c{c}", f"N={n}, C={c}: wall vs ideal ceil(N/C)x{delay:g} s", "s", wall, ideal,
                    "ideal", "ratio <= 1.2", ratio <= 1.2, ratio, runs,
                    note=f"peak RSS {rss[(n, c)]:.1f} MiB", samples={"ours": walls, "rss_mib": peaks}))
    if len(sizes) > 1:
        for c in concurrencies:
            # "Flat as N grows" compares batches that keep C jobs in flight: below N=C a batch runs
            # only N jobs at once, so its smaller RSS would measure concurrency, not N.
            base = next((n for n in sizes[:-1] if n >= c), sizes[0])
            small, big = rss[(base, c)], rss[(sizes[-1], c)]
            ratio = big / small
            section.figures.append(Figure(
                f"batch.rss.c{c}", f"peak RSS, N={sizes[-1]} vs N={base} at C={c}", "MiB", big, small,
                f"N={base}", "ratio <= 1.1 (flat)", ratio <= 1.1, ratio, runs,
                note="baseline: the smallest N that fills the concurrency"))
    return section


# --- 5. download ----------------------------------------------------------------------------


def bench_download(ws: Workspace, runs: int, has_generate: bool, image_mib: int, *, warmup: bool) -> Section:
    section = Section("download", f"5. Download of one {image_mib} MiB image (peak RSS growth)")
    padding = image_mib * MIB
    with Sandbox(delay=0.1, padding=padding) as big, Sandbox(delay=0.1) as small:
        _, big_url = big.finished_job()
        _, small_url = small.finished_job()

        def naive(url: str) -> float:
            out = ws.fresh_dir("naive") / "image.png"
            code = ("import sys, urllib.request\n"
                    "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
                    "data = opener.open(sys.argv[1]).read()\n"
                    "open(sys.argv[2], 'wb').write(data)\n")
            proc = run_measured([PY, "-c", code, url, str(out)], ws.env()).check("naive download")
            return proc.rss_kib / 1024

        sides: dict[str, Callable[[], float]] = {
            "naive_big": lambda: naive(big_url),
            "naive_small": lambda: naive(small_url),
        }
        sizes: list[int] = []
        if has_generate:
            def generate_rss(sandbox: Sandbox) -> float:
                ws.log_in(sandbox)
                proc, out = our_generate(ws, sandbox)
                if sandbox is big:
                    sizes.append(max(p.stat().st_size for p in out.rglob("*") if p.is_file()))
                return proc.rss_kib / 1024

            sides["ours_big"] = lambda: generate_rss(big)
            sides["ours_small"] = lambda: generate_rss(small)
        samples = alternate(runs, sides, warmup=warmup)
    naive_growth = median(samples["naive_big"]) - median(samples["naive_small"])
    if not has_generate:
        section.available, section.reason = False, "`gptimg generate` is not available in this checkout"
        section.figures.append(Figure(
            "download.rss_growth", "peak RSS growth, `gptimg generate` (16 MiB vs tiny image)", "MiB", None,
            naive_growth, "urllib read() (not streamed)", "< 8 MiB", None, None, runs, samples=samples))
        return section
    growth = median(samples["ours_big"]) - median(samples["ours_small"])
    saved = max(sizes) / MIB if sizes else 0.0
    section.figures.append(Figure(
        "download.rss_growth", f"peak RSS growth, `gptimg generate` ({image_mib} MiB vs tiny image)", "MiB",
        growth, naive_growth, "urllib read() (not streamed)", "< 8 MiB", growth < 8, ratio_of(growth, naive_growth),
        runs, note=f"saved file {saved:.1f} MiB; growth = median peak RSS with the big image - with a tiny one",
        samples=samples))
    return section


# --- 7. journal listing ---------------------------------------------------------------------

#: What ``gptimg jobs`` did before it printed plain lines: every row decoded, then one rich Table.
_RICH_TABLE_LISTING = """
import sys
from pathlib import Path
from rich.console import Console
from rich.table import Table
from gptimg.jobs.journal import JobJournal
journal = JobJournal()
table = Table(box=None, pad_edge=False, header_style="bold")
for column in ("time", "status", "job id", "size", "credits"):
    table.add_column(column, no_wrap=True)
table.add_column("style", overflow="fold")
table.add_column("prompt", overflow="fold", min_width=12)
table.add_column("files", overflow="fold")
for r in journal.recent(int(sys.argv[1])):
    table.add_row(r.created_at, r.status, r.job_id or "", r.size or "", f"{r.credits_used or 0:g}", r.style or "",
                  r.prompt[:40], "\\n".join(Path(f).name for f in r.files))
Console(soft_wrap=True, highlight=False).print(table)
"""


def bench_journal(ws: Workspace, runs: int, rows: int = 10_000) -> Section:
    """``gptimg jobs --limit 10000`` on a pipe (TSV) against the rich table it replaced."""
    section = Section("journal", f"7. Journal listing ({rows:,} rows)")
    home = ws.fresh_dir("journal")
    env = ws.env(gptimg_home=home, pythonpath=True)
    seed = ("import sys\nfrom gptimg.jobs.journal import JobJournal\nj = JobJournal()\n"
            "j._db.execute('PRAGMA synchronous=OFF')  # seeding only: the listing is what is measured\n"
            "for i in range(int(sys.argv[1])):\n"
            "    row = j.record_submit(gateway='https://agentools.uno', prompt=f'a fox number {i} ' * 4,"
            " style='ghibli_anime', size='1024x1024', n=2, out_dir=f'/home/someone/pictures/set-{i % 50}')\n"
            "    j.record_job_id(row, f'{i:012x}', estimated_seconds=150, credits_used=300)\n"
            "    j.mark_done(f'{i:012x}', [{'url': 'u'}] * 2, [f'/home/someone/pictures/set-{i % 50}/fox-{i}-{k}.png'"
            " for k in (1, 2)])\n")
    run_measured([PY, "-c", seed, str(rows)], env, timeout=1800).check("seeding the journal")
    rss: dict[str, list[float]] = {"ours": [], "reference": []}

    def once(side: str, argv: list[str]) -> float:
        proc = run_measured(argv, env).check(f"journal listing ({side})")
        lines = proc.stdout.count(b"\n")
        if lines < rows:
            raise BenchmarkError(f"{side} printed {lines} lines for {rows} rows")
        rss[side].append(proc.rss_kib / 1024)
        return proc.wall

    samples = alternate(runs, {
        "ours": lambda: once("ours", ws.gptimg("jobs", "--limit", str(rows))),
        "reference": lambda: once("reference", [PY, "-c", _RICH_TABLE_LISTING, str(rows)]),
    })
    ours, ref = median(samples["ours"]), median(samples["reference"])
    section.figures.append(Figure(
        "journal.jobs_10k", f"`gptimg jobs --limit {rows}` on a pipe (TSV)", "s", ours, ref,
        "rich table (before)", "< 1 s", ours < 1.0, ratio_of(ours, ref), runs,
        note=f"peak RSS {median(rss['ours']):.0f} MiB (rich table: {median(rss['reference']):.0f} MiB)",
        samples=samples))
    return section


# --- report ---------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:,.0f} {unit}" if value >= 10 else f"{value:g} {unit}"


def markdown(sections: list[Section], machine: dict[str, Any]) -> str:
    lines = [
        f"gptimg benchmarks, {machine['date']} on {machine['description']}"
        + (" (--quick)" if machine.get("quick") else ""),
        "",
        "| # | Figure | Ours | Reference | Ratio | Target | Met |",
        "|---|---|---|---|---|---|---|",
    ]
    for section in sections:
        number = section.title.split(".", 1)[0]
        if not section.available and not section.figures:
            lines.append(f"| {number} | {section.title.split('. ', 1)[1]} | not available | | | | |")
            continue
        for fig in section.figures:
            ref = f"{_fmt(fig.reference, fig.unit)} ({fig.reference_name})" if fig.reference is not None else "n/a"
            ratio = f"{fig.ratio:.2f}" if fig.ratio is not None else "n/a"
            met = {True: "yes", False: "**no**", None: "n/a"}[fig.met]
            ours = _fmt(fig.ours, fig.unit) if fig.ours is not None else "not available"
            lines.append(f"| {number} | {fig.name} | {ours} | {ref} | {ratio} | {fig.target} | {met} |")
    lines.append("")
    counts = sorted({f.runs for s in sections for f in s.figures if f.runs})
    spread = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}" if counts else "0"
    lines.append(f"Each figure: median of {spread} runs, ours and the reference alternating; "
                 "ratio = ours / reference (lower is better).")
    if machine.get("file_create_us") is not None:
        lines.append(f"A new empty file cost {machine['file_create_us']:g} us of CPU at the start "
                     f"(above {SLOW_CREATE_US:g} us the disk was still slow from a recent mass deletion).")
    for section in sections:
        if not section.available and section.reason:
            lines.append(f"- {section.title}: not available ({section.reason})")
    return "\n".join(lines)


def machine_info(quick: bool, runs: int, uno_version: str | None) -> dict[str, Any]:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    cpus = os.cpu_count() or 0
    try:
        from gptimg import __version__ as gptimg_version
    except ImportError:
        gptimg_version = "unknown"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_count": cpus,
        "description": f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}",
        "gptimg": gptimg_version,
        "uno_cli": uno_version,
        "commit": commit.stdout.strip() or None,
        "quick": quick,
        "runs": runs,
    }


#: CPU per new empty file above which the disk is still paying for a recent mass deletion (see README).
SLOW_CREATE_US = 80.0


def file_create_cost(folder: Path, count: int = 1000) -> float:
    """CPU microseconds per new empty file in ``folder`` (the files stay until the run's folder goes).

    Each batch image is a new file, and on ext4 without a journal a new inode costs a scan past
    every inode deleted in the last 60-300 s: ~30 us a file on a quiet disk here, ~190 us right
    after 5,000 files were removed. Recorded so a slow batch figure can be told from a slow disk.
    """
    folder.mkdir(parents=True, exist_ok=True)
    before = os.times()
    for number in range(count):
        os.close(os.open(folder / f"probe-{number}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    after = os.times()
    return (after.user - before.user + after.system - before.system) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs, N=10 at C=8 only, short delays (smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 5, 3 with --quick)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--only", default="", help="comma-separated section keys to run (default: all)")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    #: Start-up and single calls take a fraction of a second: more runs cost little and steady the medians.
    fast_runs = max(runs, 5 if args.quick else 15)
    only = {s for s in args.only.split(",") if s}
    sys.path.insert(0, str(SRC))

    uno_cmd, uno_version = find_uno()
    sections: list[Section] = []
    with tempfile.TemporaryDirectory(prefix="gptimg-bench-") as tmp:
        ws = Workspace(Path(tmp), uno_cmd, uno_version)
        ws.home.mkdir()
        create_us = file_create_cost(ws.root / "disk-probe")
        if create_us > SLOW_CREATE_US:
            print(f"warning: a new file costs {create_us:.0f} us of CPU here (quiet: ~30 us); the disk may still "
                  "be paying for files deleted in the last few minutes, which inflates the batch figures "
                  "(benchmarks/README.md)", file=sys.stderr, flush=True)
        has_generate, _ = gptimg_has(ws, "generate")
        has_batch, _ = gptimg_has(ws, "batch")
        plan: list[tuple[str, Callable[[], list[Section]]]] = [
            ("startup", lambda: [bench_startup(ws, fast_runs)]),
            ("agent_call", lambda: [bench_agent_call(ws, fast_runs)]),
            ("end_to_end", lambda: list(bench_end_to_end(ws, runs, 0.5 if args.quick else 3.0, has_generate))),
            ("batch", lambda: [bench_batch(ws, runs, [10] if args.quick else [10, 50, 200],
                                           [8] if args.quick else [8, 32], 1.0 if args.quick else 2.0,
                                           has_batch)]),
            ("download", lambda: [bench_download(ws, runs, has_generate, 16, warmup=not args.quick)]),
            ("batch_scale", lambda: [scale.bench_scale(ws, scale.QUICK if args.quick else scale.FULL)]),
            ("human_startup", lambda: [human.bench_human_startup(ws, runs if args.quick else fast_runs,
                                                                 0.5 if args.quick else 3.0)]),
            ("journal", lambda: [bench_journal(ws, runs, 500 if args.quick else 10_000)]),
        ]
        if not args.quick:  # a 128 MiB download twice per run: not for CI's smoke test
            plan.append(("download_speed", lambda: [human.bench_download_speed(ws, runs, 128)]))
        for key, bench in plan:
            if only and key not in only and not (key == "end_to_end" and "agent_economy" in only):
                continue
            started = time.perf_counter()
            try:
                sections.extend(bench())
            except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
                sections.append(Section(key, TITLES[key], available=False,
                                        reason=f"failed: {type(exc).__name__}: {exc}"[:500]))
            print(f"[{key}: {time.perf_counter() - started:.1f} s]", file=sys.stderr, flush=True)

    order = list(TITLES)
    sections.sort(key=lambda s: order.index(s.key) if s.key in order else len(order))
    machine = machine_info(args.quick, runs, uno_version)
    machine["file_create_us"] = round(create_us, 1)
    table = markdown(sections, machine)
    results = {
        "schema": 1,
        "date": machine["date"],
        "quick": args.quick,
        "machine": machine,
        "sections": {s.key: s.to_json() for s in sections},
        "table": table,
    }
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
