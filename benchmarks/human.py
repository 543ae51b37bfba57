"""The person's CLI (issue 15): start-up against the bare interpreter, the embedded sandbox,
``generate``'s own overhead, and download throughput against curl on the same URL.

Start-up figures are ratios to ``python -c pass`` with the same interpreter in the
same run, so a slower machine moves both sides. ``generate``'s overhead is its wall
time minus the job's own time (the sandbox delay) minus the bare interpreter's
start-up: what gptimg adds, not what Python costs.
"""

from __future__ import annotations

import shutil

from harness import (
    MIB,
    PY,
    BenchmarkError,
    Figure,
    Sandbox,
    Section,
    Workspace,
    alternate,
    median,
    our_generate,
    ratio_of,
    run_measured,
)

STARTUP_TITLE = "8. Human CLI start-up and the embedded sandbox"
DOWNLOAD_TITLE = "9. Download throughput against curl"

#: (figure id, label, arguments, target ratio to the bare interpreter)
HUMAN_COMMANDS = [
    ("human.version", "`gptimg --version`", ["--version"], 2.0),
    ("human.help", "`gptimg --help`", ["--help"], 4.0),
    ("human.styles", "`gptimg styles`", ["styles"], 4.0),
    ("human.jobs", "`gptimg jobs` (empty journal)", ["jobs"], 4.0),
    ("human.dry_run", "`gptimg generate --dry-run`", ["generate", "a shiba inu", "--dry-run"], 4.0),
]

#: Start and stop the embedded sandbox in a child, after its imports (those are start-up's share).
_SANDBOX_TIMER = (
    "import time\n"
    "from gptimg.sandbox import SandboxConfig, SandboxGateway\n"
    "start = time.perf_counter()\n"
    "sandbox = SandboxGateway(SandboxConfig(auto_approve=True, interval=1)).start()\n"
    "sandbox.stop()\n"
    "print(time.perf_counter() - start)\n"
)


def bench_human_startup(ws: Workspace, runs: int, delay: float) -> Section:
    section = Section("human_startup", STARTUP_TITLE)
    env = ws.env(pythonpath=True)
    bare: list[float] = []
    for fid, name, args, target in HUMAN_COMMANDS:
        samples = alternate(runs, {
            "ours": lambda a=args: run_measured(ws.gptimg(*a), env).check(f"gptimg {a[0]}").wall,
            "reference": lambda: run_measured([PY, "-c", "pass"], env).check("python -c pass").wall,
        })
        bare.extend(samples["reference"])
        ours, ref = median(samples["ours"]), median(samples["reference"])
        ratio = ratio_of(ours, ref)
        section.figures.append(Figure(fid, name, "s", ours, ref, "python -c pass", f"ratio <= {target:g}",
                                      ratio is not None and ratio <= target, ratio, runs, samples=samples))

    stops = [float(run_measured([PY, "-c", _SANDBOX_TIMER], env).check("sandbox start/stop").stdout)
             for _ in range(runs)]
    took = median(stops)
    section.figures.append(Figure(
        "human.sandbox_start_stop", "embedded sandbox: start + stop (in-process, after imports)", "s", took, None,
        "", "<= 0.020 s", took <= 0.020, None, runs, samples={"ours": stops}))

    with Sandbox(delay=delay) as sandbox:
        ws.log_in(sandbox)
        samples = alternate(runs, {
            "ours": lambda: our_generate(ws, sandbox)[0].wall - delay,
            "bare": lambda: run_measured([PY, "-c", "pass"], env).check("python -c pass").wall,
        })
    overhead = median(samples["ours"]) - median(samples["bare"])
    section.figures.append(Figure(
        "human.generate_overhead", f"`gptimg generate --yes --json` over the job's {delay:g} s and Python's start",
        "s", overhead, None, "", "<= 0.100 s", overhead <= 0.100, None, runs,
        note="wall - sandbox delay - median `python -c pass`; external sandbox (`python -m gptimg.sandbox`)",
        samples=samples))
    return section


def bench_download_speed(ws: Workspace, runs: int, image_mib: int) -> Section:
    """``gptimg result`` on a finished job (download only) against curl on the image's URL."""
    section = Section("download_speed", f"{DOWNLOAD_TITLE} ({image_mib} MiB image)")
    curl = shutil.which("curl")
    if curl is None:
        section.available, section.reason = False, "curl is not installed"
        return section
    with Sandbox(delay=0.1, padding=image_mib * MIB) as big, Sandbox(delay=0.1) as small:
        jobs = {"big": big.finished_job(), "small": small.finished_job()}
        sandboxes = {"big": big, "small": small}
        sizes: list[int] = []

        def ours(which: str) -> tuple[float, float]:
            ws.log_in(sandboxes[which])
            out = ws.fresh_dir("result")
            proc = run_measured(ws.gptimg("result", jobs[which][0], "--out", str(out), "--json"),
                                ws.env(sandboxes[which], pythonpath=True)).check("gptimg result")
            files = [p for p in out.iterdir() if p.is_file()]
            if not files:
                raise BenchmarkError("gptimg result saved nothing")
            sizes.append(max(p.stat().st_size for p in files))
            return proc.wall, proc.rss_kib / 1024

        def by_curl(which: str) -> float:
            out = ws.fresh_dir("curl") / "image.png"
            return run_measured([curl, "-sS", "--noproxy", "*", "-o", str(out), jobs[which][1]], ws.env()) \
                .check("curl").wall

        rss: dict[str, list[float]] = {"big": [], "small": []}

        def ours_wall(which: str) -> float:
            wall, peak = ours(which)
            rss[which].append(peak)
            return wall

        samples = alternate(runs, {
            "ours_big": lambda: ours_wall("big"), "ours_small": lambda: ours_wall("small"),
            "curl_big": lambda: by_curl("big"), "curl_small": lambda: by_curl("small"),
        })
    size_mib = max(sizes) / MIB
    ours_s = max(median(samples["ours_big"]) - median(samples["ours_small"]), 0.001)
    curl_s = max(median(samples["curl_big"]) - median(samples["curl_small"]), 0.001)
    ratio = (size_mib / ours_s) / (size_mib / curl_s)
    section.figures.append(Figure(
        "download.throughput", "`gptimg result` download throughput vs curl, same URL", "MiB/s",
        size_mib / ours_s, size_mib / curl_s, "curl", "ratio >= 0.8", ratio >= 0.8, ratio, runs,
        note="net of start-up: median wall with the big image - with a tiny one, each side", samples=samples))
    growth = median(rss["big"]) - median(rss["small"])
    section.figures.append(Figure(
        "download.result_rss_growth", f"peak RSS growth of `gptimg result` ({size_mib:.0f} MiB vs tiny image)",
        "MiB", growth, None, "", "<= 8 MiB (streamed)", growth <= 8, None, runs,
        samples={"big": rss["big"], "small": rss["small"]}))
    return section

