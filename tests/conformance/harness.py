"""A scripted gateway on 127.0.0.1 and a runner for both agent CLIs.

Each client run gets its own server (same script) and its own HOME, so the two
runs of one case can go in parallel and each server's request log belongs to
exactly one client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union
from urllib.parse import parse_qs, urlsplit

from stubserver import StubHandler, StubServer

REPO = Path(__file__).resolve().parents[2]
OUR_CLI = [sys.executable, str(REPO / "bin" / "uno.py")]
UNO_CLI = [sys.executable, "-m", "uno_cli"]
CLIENTS = {"uno-cli": UNO_CLI, "ours": OUR_CLI}
RUN_TIMEOUT = 30
#: In a case's argv, replaced by the scripted gateway's URL.
BASE_URL = "{base_url}"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, JSON body (or raw bytes), extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


NOT_SCRIPTED = Reply(404, {"detail": "Not Found"})
#: A route answers with a fixed ``Reply`` or computes one from the request (e.g. per key).
Route = Union[Reply, Callable[[Recorded], Reply]]
Routes = dict[tuple[str, str], Route]


class ScriptedGateway(StubServer):
    """Answers ``routes[(method, path)]``; records every request."""

    name = "scripted-gateway"

    def __init__(self, routes: Routes) -> None:
        super().__init__()
        self.routes = dict(routes)
        self.requests: list[Recorded] = []

    def answer(self, handler: StubHandler, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(path)
        record = Recorded(method=method, path=parts.path, query=parse_qs(parts.query), headers=headers, body=body)
        with self._lock:
            self.requests.append(record)
        route = self.routes.get((method, parts.path), NOT_SCRIPTED)
        reply = route if isinstance(route, Reply) else route(record)
        handler.send(reply.status, {"Content-Type": "application/json", **reply.headers}, reply.payload())


@contextmanager
def scripted_gateway(routes: Routes) -> Iterator[ScriptedGateway]:
    with ScriptedGateway(routes) as gateway:
        yield gateway


#: Runs a client with ``sys.argv`` read from stdin (JSON), exactly as ``python -m``/``python script`` would.
_LAUNCHER = """
import json, runpy, sys
target = sys.argv[1]
sys.argv = [target] + json.loads(sys.stdin.read())
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


@dataclass
class Run:
    """One client run: what it printed, how it exited, what its server saw."""

    client: str
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    home: Path
    requests: list[Recorded]

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(
                f"{self.client} did not print one JSON document for {self.argv}:\n"
                f"stdout={self.stdout!r}\nstderr={self.stderr[-2000:]!r}"
            ) from exc

    def normalised(self) -> Any:
        """The output with this run's own HOME replaced by a placeholder; None if stdout is not JSON."""
        try:
            parsed = json.loads(self.stdout)
        except ValueError:
            return None
        return _replace_strings(parsed, {str(self.home): "$HOME"})

    @property
    def credentials_file(self) -> Path:
        return self.home / ".uno" / "credentials.json"


def _replace_strings(obj: Any, table: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: _replace_strings(v, table) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_strings(v, table) for v in obj]
    if isinstance(obj, str):
        for old, new in table.items():
            obj = obj.replace(old, new)
    return obj


def client_env(home: Path, base_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no proxies, no key, no UNO_* settings unless the case adds them."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USERPROFILE": str(home),
        "GPTIMG_HOME": str(home / "gptimg-data"),
        "UNO_API_URL": base_url,
        "NO_PROXY": "*",
        "no_proxy": "*",
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    for name in ("SYSTEMROOT", "TMPDIR", "TEMP", "TMP"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def run_client(
    client: str,
    argv: list[str],
    *,
    home: Path,
    routes: Routes,
    env: dict[str, str] | None = None,
) -> Run:
    """Run one client once against its own scripted gateway."""
    home.mkdir(parents=True, exist_ok=True)
    with scripted_gateway(routes) as gateway:
        argv = [arg.replace(BASE_URL, gateway.base_url) for arg in argv]
        command = [*CLIENTS[client], *argv]
        stdin = None
        if any("\x00" in arg for arg in argv):
            # exec() cannot pass a NUL inside an argument: hand argv over on stdin instead.
            command = [sys.executable, "-c", _LAUNCHER, CLIENTS[client][-1]]
            stdin = json.dumps(argv).encode("utf-8")
        proc = subprocess.run(
            command,
            input=stdin,
            env=client_env(home, gateway.base_url, env),
            capture_output=True,
            timeout=RUN_TIMEOUT,
            cwd=str(home),
            check=False,
        )
        requests = list(gateway.requests)
    return Run(
        client=client,
        argv=argv,
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8"),
        stderr=proc.stderr.decode("utf-8", "replace"),
        home=home,
        requests=requests,
    )


def write_credentials(home: Path, accounts: Any) -> Path:
    """A credentials file the way uno-cli writes it (indent 2, 0600, directory 0700)."""
    directory = home / ".uno"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "credentials.json"
    path.write_text(json.dumps(accounts, indent=2, ensure_ascii=False), encoding="utf-8")
    os.chmod(path, 0o600)
    return path
