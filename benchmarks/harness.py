"""What every benchmark section shares: measured child processes, sandboxes, isolated homes, figures.

Why it is built the way it is:

* Every measured command is its own process, timed with ``perf_counter`` around
  launch and reap, and reaped with ``os.wait4`` so its own peak RSS and CPU time
  are read (``RUSAGE_CHILDREN`` deltas mix up every child the runner ever had).
* Ours and the reference alternate run by run, and each figure is a median, so a
  noisy neighbour hurts both sides alike.
* Children run with a temporary HOME (credentials) and GPTIMG_HOME (journal), no
  proxy variables, and with bytecode caching allowed: users run installed code with
  ``.pyc`` files, so a ``PYTHONDONTWRITEBYTECODE`` in the developer's shell would
  measure compilation, not gptimg.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
OUR_UNO = REPO / "bin" / "uno.py"
RESULTS = Path(__file__).resolve().parent / "results.json"
PY = sys.executable
SUBMIT = "gpt-image-2.gpt_image2_submit"
RESULT = "gpt-image-2.gpt_image2_result"
MIB = 1024 * 1024
#: Ample credits: a full run submits several hundred paid jobs to the sandbox.
SANDBOX_CREDITS = 10**9
#: Variables that would route loopback traffic through a proxy or change what is measured.
_DROPPED_ENV = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
    "UNO_API_KEY", "UNO_API_URL", "UNO_ALLOWED_TOOLS", "PYTHONDONTWRITEBYTECODE", "GPTIMG_HOME",
)


# --- running and measuring one process ------------------------------------------------------


@dataclass
class Proc:
    """One finished child: wall time, its own peak RSS and what it printed."""

    wall: float
    rss_kib: int
    returncode: int
    stdout: bytes
    stderr: bytes
    #: The child's own user + system CPU seconds: steadier than wall time on a busy machine.
    cpu: float = 0.0

    def json(self) -> Any:
        return json.loads(self.stdout.decode("utf-8"))

    def check(self, what: str) -> Proc:
        if self.returncode != 0:
            tail = (self.stderr or self.stdout)[-800:].decode("utf-8", "replace")
            raise BenchmarkError(f"{what} exited {self.returncode}: {tail}")
        return self


class BenchmarkError(RuntimeError):
    """A measured command did something other than succeed; the figure cannot be trusted."""


def run_measured(argv: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 900) -> Proc:
    """Run ``argv`` to completion; stdout/stderr go to files so no pipe can stall the child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
        killer = threading.Timer(timeout, _kill, (proc.pid,))
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        out.seek(0)
        err.seek(0)
        rss = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
        return Proc(wall, int(rss), proc.returncode, out.read(), err.read(),
                    usage.ru_utime + usage.ru_stime)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# --- the sandbox ----------------------------------------------------------------------------


class Sandbox:
    """A ``python -m gptimg.sandbox`` subprocess on an ephemeral loopback port."""

    def __init__(self, *, delay: float, padding: int = 0) -> None:
        self.delay = delay
        argv = [PY, "-m", "gptimg.sandbox", "--port", "0", "--delay", str(delay)]
        if padding:
            argv += ["--image-padding-bytes", str(padding)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        line = _readline_with_timeout(self._proc, 30.0)
        if not line.startswith("sandbox gateway listening on "):
            self.stop()
            raise BenchmarkError(f"the sandbox did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()
        self.api_key = self.create_account()

    def _opener(self) -> urllib.request.OpenerDirector:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(self, path: str, payload: dict[str, Any], *, key: str | None = None, timeout: float = 70) -> Any:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url + path, json.dumps(payload).encode(), headers, method="POST")
        with self._opener().open(request, timeout=timeout) as answer:
            return json.loads(answer.read())

    def create_account(self) -> str:
        answer = self.post("/_sandbox/accounts", {"name": "bench", "email": "bench@example.com",
                                                  "credits": SANDBOX_CREDITS})
        return str(answer["api_key"])

    def finished_job(self) -> tuple[str, str]:
        """Submit one job over HTTP and wait until it is done: (job id, first image URL)."""
        data = self.post("/v1/call", {"tool": SUBMIT, "arguments": {"prompt": "benchmark"}}, key=self.api_key)
        job_id = data["data"]["job_id"]
        for _ in range(20):
            answer = self.post("/v1/call", {"tool": RESULT, "arguments": {"job_id": job_id, "wait_seconds": 50}},
                               key=self.api_key)
            payload = _flatten(answer["data"])
            if payload.get("status") == "done":
                return job_id, payload["items"][0]["url"]
        raise BenchmarkError("the sandbox never finished a job")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readline_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> str:
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else b""), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].decode() if box else ""


def _flatten(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("content"), list) and data["content"]:
        return json.loads(data["content"][0]["text"])
    return data


# --- the workspace: isolated homes, both CLIs logged in ------------------------------------


@dataclass
class Workspace:
    root: Path
    uno_cmd: list[str] | None
    uno_version: str | None
    _counter: int = 0

    @property
    def home(self) -> Path:
        return self.root / "home"

    def fresh_dir(self, prefix: str) -> Path:
        self._counter += 1
        path = self.root / f"{prefix}-{self._counter}"
        path.mkdir(parents=True)
        return path

    def env(self, sandbox: Sandbox | None = None, *, gptimg_home: Path | None = None,
            pythonpath: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(HOME=str(self.home), GPTIMG_HOME=str(gptimg_home or self.root / "gptimg-home"),
                   NO_PROXY="*", no_proxy="*", PYTHONUNBUFFERED="1")
        if sandbox is not None:
            env["UNO_API_URL"] = sandbox.url
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return env

    def log_in(self, sandbox: Sandbox) -> None:
        """Write the credentials file both CLIs share (the format in gateway-protocol.md)."""
        folder = self.home / ".uno"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        path = folder / "credentials.json"
        account = {"api_key": sandbox.api_key, "name": "bench", "email": "bench@example.com",
                   "user_id": "", "active": True}
        path.write_text(json.dumps([account]))
        path.chmod(0o600)

    def ours(self, *args: str) -> list[str]:
        """``bin/uno.py`` as SKILL.md documents it: ``python3 -I -S`` (no site-packages, no PYTHON* variables)."""
        return [PY, "-I", "-S", str(OUR_UNO), *args]

    def ours_plain(self, *args: str) -> list[str]:
        """``bin/uno.py`` run as a plain ``python3 bin/uno.py``: still supported, reported beside the headline."""
        return [PY, str(OUR_UNO), *args]

    def ref(self, *args: str) -> list[str]:
        assert self.uno_cmd is not None
        return [*self.uno_cmd, *args]

    def gptimg(self, *args: str) -> list[str]:
        return [PY, "-m", "gptimg", *args]


def find_uno() -> tuple[list[str] | None, str | None]:
    """uno-cli's console script, run with this interpreter (a pyenv shim would add ~50 ms of bash)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        uno_version = version("uno-cli")
    except PackageNotFoundError:
        return None, None
    script = Path(sysconfig.get_path("scripts")) / "uno"
    if script.is_file() and script.read_bytes()[:2] == b"#!" and b"python" in script.read_bytes()[:200]:
        return [PY, str(script)], uno_version
    return [PY, "-c", "import sys; from uno_cli.cli import main; sys.argv[0] = 'uno'; sys.exit(main())"], uno_version


def gptimg_has(ws: Workspace, command: str) -> tuple[bool, str]:
    """Whether ``gptimg COMMAND`` exists in this checkout, and its ``--help`` text."""
    env = ws.env(pythonpath=True)
    env["COLUMNS"] = "200"  # rich wraps help text at the terminal width; keep option names whole
    proc = run_measured(ws.gptimg(command, "--help"), env, timeout=120)
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return proc.returncode == 0, text




# --- figures and sections -------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the table. ``ratio`` is ours / reference (or ours / ideal); lower is better."""

    id: str
    name: str
    unit: str
    ours: float | None
    reference: float | None
    reference_name: str
    target: str
    met: bool | None
    ratio: float | None = None
    runs: int = 0
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "unit": self.unit, "ours": _round(self.ours),
            "reference": _round(self.reference), "reference_name": self.reference_name,
            "ratio": _round(self.ratio, 3), "target": self.target, "met": self.met, "runs": self.runs,
            "note": self.note, "samples": {k: [_round(v) for v in vs] for k, vs in self.samples.items()},
        }


@dataclass
class Section:
    key: str
    title: str
    available: bool = True
    reason: str = ""
    figures: list[Figure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "available": self.available, "reason": self.reason or None,
                "figures": [f.row() for f in self.figures]}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def ratio_of(ours: float | None, reference: float | None) -> float | None:
    if ours is None or reference is None or reference <= 0:
        return None
    return ours / reference


def alternate(runs: int, sides: dict[str, Callable[[], float]], *, warmup: bool = True) -> dict[str, list[float]]:
    """Run each side ``runs`` times, interleaved and with the order flipped every round."""
    names = list(sides)
    if warmup:
        for name in names:
            sides[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        for name in names if i % 2 == 0 else reversed(names):
            samples[name].append(sides[name]())
    return samples


def agent_cli_figures(fid: str, name: str, limit: float, runs: int,
                      measure: Callable[[list[str]], Proc], ws: Workspace, args: list[str]) -> list[Figure]:
    """Ours (SKILL.md's ``python3 -I -S bin/uno.py``), plain ``python3 bin/uno.py`` and uno-cli, alternating.

    Two rows against the same uno-cli samples: the documented invocation is the headline,
    the plain one is kept so nothing is hidden. Wall time is the figure; the children's CPU
    time (``os.wait4``) goes into the note and the samples, as it moves less on a busy machine.
    """
    cpu: dict[str, list[float]] = {"ours": [], "plain": [], "reference": []}

    def side(key: str, argv: list[str]) -> Callable[[], float]:
        def once() -> float:
            proc = measure(argv)
            cpu[key].append(proc.cpu)
            return proc.wall
        return once

    samples = alternate(runs, {"ours": side("ours", ws.ours(*args)), "plain": side("plain", ws.ours_plain(*args)),
                               "reference": side("reference", ws.ref(*args))})
    ref, ref_cpu = median(samples["reference"]), median(cpu["reference"][-runs:])
    figures = []
    for key, label in (("ours", "`python3 -I -S bin/uno.py` (SKILL.md)"), ("plain", "plain `python3 bin/uno.py`")):
        ours, ours_cpu = median(samples[key]), median(cpu[key][-runs:])
        ratio = ratio_of(ours, ref)
        note = f"CPU {ours_cpu * 1000:.0f} ms vs {ref_cpu * 1000:.0f} ms (ratio {ours_cpu / ref_cpu:.2f})"
        figures.append(Figure(fid if key == "ours" else f"{fid}.plain", f"{name}, {label}", "s", ours, ref,
                              "uno-cli", f"ratio <= {limit}", ratio is not None and ratio <= limit, ratio, runs,
                              note=note, samples={key: samples[key], "reference": samples["reference"],
                                                  f"{key}_cpu": cpu[key][-runs:],
                                                  "reference_cpu": cpu["reference"][-runs:]}))
    return figures


def our_generate(ws: Workspace, sandbox: Sandbox, label: str = "benchmark image") -> tuple[Proc, Path]:
    out = ws.fresh_dir("generate")
    proc = run_measured(ws.gptimg("generate", label, "--yes", "--json", "--out", str(out)),
                        ws.env(sandbox, pythonpath=True))
    proc.check("gptimg generate")
    payload = proc.json()
    items = (payload.get("data") or {}).get("items") or []
    if not payload.get("ok", payload.get("success", True)) or not items:
        raise BenchmarkError(f"gptimg generate printed no saved image: {proc.stdout[:400]!r}")
    return proc, out
