"""Client CPU per request of each wire: result polls in-process against an external sandbox.

``python benchmarks/wire_cpu.py [N]`` prints, for the pooled ``http.client`` wire, the httpx
wire and a wire that never touches the network (the exchange's own share), the CPU
(``time.process_time``, this process only: the sandbox runs in its own) per result poll.
The gateway's choice of wire (``gptimg.gateway.wires``) quotes these figures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from harness import SRC, Sandbox

sys.path.insert(0, str(SRC))

from gptimg.gateway import GatewayClient  # noqa: E402
from gptimg.image_tool import RESULT_TOOL  # noqa: E402


class _Canned:
    """A wire answering every request with one done answer, without a socket."""

    def __init__(self, job_id: str) -> None:
        self._body = json.dumps({"data": {"status": "done", "job_id": job_id, "items": []}, "meta": {}}).encode()
        self.status_code = 200
        self.headers = {"content-length": str(len(self._body)), "content-type": "application/json"}

    def send(self, *args: Any, **kwargs: Any) -> _Canned:
        return self

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        yield self._body

    def close(self) -> None:
        pass


def wire_for(name: str, job_id: str) -> Any:
    if name == "stdlib":
        from gptimg.gateway.stdlib_wire import StdlibWire

        return StdlibWire("gptimg-bench")
    if name == "httpx":
        from gptimg.gateway._httpx import HttpxWire

        return HttpxWire(max_connections=4, user_agent="gptimg-bench")
    return _Canned(job_id)


def main() -> None:
    polls = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with Sandbox(delay=0.01) as sandbox:
        job_id, _ = sandbox.finished_job()
        for name in ("no network", "stdlib", "httpx"):
            with GatewayClient(sandbox.url, sandbox.api_key, wire=wire_for(name, job_id)) as client:
                arguments = {"job_id": job_id, "wait_seconds": 0}
                for _ in range(20):  # connections open, code warm
                    client.call_tool(RESULT_TOOL, arguments, timeout=10, retry=True)
                started = time.process_time()
                for _ in range(polls):
                    client.call_tool(RESULT_TOOL, arguments, timeout=10, retry=True)
                took = time.process_time() - started
            print(f"{name:10s}: {took / polls * 1000:.3f} ms CPU per result poll ({polls} polls)")


if __name__ == "__main__":
    main()
