"""Image downloads on the fast path (one reused buffer, ``readinto1``), held to the old promises.

The buffer is big (1 MiB) so a 128 MiB image costs ~128 reads; a hostile server must
still not be able to use that: a body dribbling in a byte at a time ends at the
deadline, a cut-off body is a failure (never a saved image), a body past the cap stops.
And the disk: the image is flushed while it arrives, but still fsynced before it gets
its final name.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable

import pytest

from gptimg import errors
from gptimg.gateway import GatewayClient
from gptimg.gateway._httpx import HttpxWire
from gptimg.gateway.retry import NO_RETRY
from gptimg.gateway.stdlib_wire import StdlibWire
from gptimg.jobs import download as download_module
from gptimg.jobs import writeback

from .faultproxy import Fault, FaultProxy
from .scripted import PNG, Answer, ScriptedGateway, png_chunk

WIRES = {
    "stdlib": lambda: StdlibWire("gptimg-test"),
    "httpx": lambda: HttpxWire(max_connections=4, user_agent="gptimg-test"),
}


def big_png(size: int) -> bytes:
    """A PNG signature and header followed by ``size`` bytes of padding (sniffed as a PNG)."""
    return PNG + bytes(range(256)) * (size // 256)


@pytest.mark.parametrize("wire", list(WIRES))
def test_an_image_dribbling_a_byte_at_a_time_is_abandoned_at_the_deadline(
    wire: str, make_scripted: Callable[..., ScriptedGateway]
) -> None:
    gateway = make_scripted({"GET /cdn/": Answer(body=PNG * 50, content_type="image/png", drip=0.02)})
    with GatewayClient(gateway.base_url, None, wire=WIRES[wire](), retry=NO_RETRY) as client:
        started = time.monotonic()
        with pytest.raises(errors.RequestTimeout):
            client.download(f"{gateway.base_url}/cdn/x/0.png", io.BytesIO(), deadline=time.monotonic() + 0.5)
        assert time.monotonic() - started < 5  # the whole body would take 70 s


@pytest.mark.parametrize("wire", list(WIRES))
def test_a_cut_off_image_fails_and_one_past_the_cap_stops(
    wire: str, make_scripted: Callable[..., ScriptedGateway], make_proxy: Callable[..., FaultProxy]
) -> None:
    gateway = make_scripted({"GET /cdn/": Answer(body=big_png(300_000), content_type="image/png")})
    proxy = make_proxy(gateway.base_url, lambda seen: Fault("truncate", keep=200_000) if "cut" in seen.path else None)
    with GatewayClient(proxy.base_url, None, wire=WIRES[wire](), retry=NO_RETRY) as client:
        with pytest.raises(errors.ConnectionFailed):
            client.download(f"{proxy.base_url}/cdn/cut/0.png", io.BytesIO())
        with pytest.raises(errors.InvalidResponse, match="larger than allowed"):
            client.download(f"{proxy.base_url}/cdn/big/0.png", io.BytesIO(), max_bytes=100_000)
        sink = io.BytesIO()
        assert client.download(f"{proxy.base_url}/cdn/whole/0.png", sink).size == len(big_png(300_000))
        assert sink.getvalue() == big_png(300_000)


def test_downloads_reuse_the_connection_once_read_to_the_end(make_scripted: Callable[..., ScriptedGateway]) -> None:
    gateway = make_scripted({"GET /cdn/": Answer(body=big_png(200_000), content_type="image/png")})
    with GatewayClient(gateway.base_url, None, wire=StdlibWire("gptimg-test"), retry=NO_RETRY) as client:
        for index in range(3):
            sink = io.BytesIO()
            client.download(f"{gateway.base_url}/cdn/x/{index}.png", sink)
            assert sink.getvalue() == big_png(200_000)
    assert gateway.connections_opened == 1


def test_a_big_image_is_flushed_while_it_arrives_and_fsynced_before_its_final_name(
    make_scripted: Callable[..., ScriptedGateway], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = big_png(3 * 1024 * 1024)
    gateway = make_scripted({"GET /cdn/": Answer(body=body, content_type="image/png")})
    monkeypatch.setattr(writeback, "STEP", 512 * 1024)
    events: list[str] = []
    made: list[writeback.EarlyWriteback] = []
    real_fsync, real_link, real_init = download_module.os.fsync, download_module.os.link, writeback.EarlyWriteback.__init__

    def init(self: writeback.EarlyWriteback, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(writeback.EarlyWriteback, "__init__", init)
    monkeypatch.setattr(download_module.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(download_module.os, "link", lambda a, b: (events.append("link"), real_link(a, b))[1])
    with GatewayClient(gateway.base_url, None, wire=StdlibWire("gptimg-test"), retry=NO_RETRY) as client:
        path = download_module.save_image(client, f"{gateway.base_url}/cdn/x/0.png", tmp_path, "fox", "job1")
    assert path.read_bytes() == body
    assert events == ["fsync", "link"], "the image must be on disk before it has its name"
    [sink] = made
    assert sink.flushes >= 1, "nothing was flushed while the image arrived"
    assert not [t for t in __import__("threading").enumerate() if t.name == "gptimg-writeback"]


@pytest.mark.parametrize("stamping", ["rewrites", "leaves-it"])
def test_a_stamped_image_is_fsynced_once_before_its_final_name(
    stamping: str, make_scripted: Callable[..., ScriptedGateway], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stamp that rewrites the file fsyncs its output; one that leaves it (not a PNG it can walk) must not
    leave the download unsynced. Either way: one fsync (a 128 MiB image written to disk once), then the name."""
    from gptimg.provenance import stamp_png

    body = big_png(64 * 1024)
    gateway = make_scripted({"GET /cdn/": Answer(body=body, content_type="image/png")})
    events: list[str] = []
    real_fsync, real_link = download_module.os.fsync, download_module.os.link
    monkeypatch.setattr(download_module.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(download_module.os, "link", lambda a, b: (events.append("link"), real_link(a, b))[1])

    def stamp(path: Path, index: int) -> None:
        if stamping == "rewrites":
            assert stamp_png(path, {"prompt": "a fox", "job_id": "job1"})

    with GatewayClient(gateway.base_url, None, wire=StdlibWire("gptimg-test"), retry=NO_RETRY) as client:
        path = download_module.save_image(client, f"{gateway.base_url}/cdn/x/0.png", tmp_path, "fox", "job1",
                                          stamp=stamp)
    assert events == ["fsync", "link"]
    assert (path.read_bytes() == body) is (stamping == "leaves-it")


def test_a_png_stamped_while_it_streams_is_written_and_fsynced_once(
    make_scripted: Callable[..., ScriptedGateway], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``png_stamper``'s chunks go in on the way: the file is what stamp_png would write, without its copy."""
    import types

    from gptimg import provenance
    from gptimg.provenance import png_stamper

    body = PNG[:-12] + png_chunk(b"paDd", bytes(3 << 20)) + PNG[-12:]
    gateway = make_scripted({"GET /cdn/": Answer(body=body, content_type="image/png")})
    record = types.SimpleNamespace(prompt="a fox", style=None, size="1024x1024", gateway=gateway.base_url,
                                   created_at="2026-11-25T19:00:00Z", sandbox=True)
    stamp = png_stamper(record, "job1", 1)
    rewrites: list[Path] = []
    real_stamp_png = provenance.stamp_png
    monkeypatch.setattr(provenance, "stamp_png", lambda path, rec: (rewrites.append(path), real_stamp_png(path, rec))[1])
    events: list[str] = []
    real_fsync, real_link = download_module.os.fsync, download_module.os.link
    monkeypatch.setattr(download_module.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(download_module.os, "link", lambda a, b: (events.append("link"), real_link(a, b))[1])
    with GatewayClient(gateway.base_url, None, wire=StdlibWire("gptimg-test"), retry=NO_RETRY) as client:
        path = download_module.save_image(client, f"{gateway.base_url}/cdn/x/0.png", tmp_path, "fox", "job1",
                                          stamp=stamp, index=1)
    assert events == ["fsync", "link"] and rewrites == []
    reference = tmp_path / "reference.png"
    reference.write_bytes(body)
    real_stamp_png(reference, provenance.build_record(
        prompt="a fox", style=None, size="1024x1024", image_index=1, image_count=1, job_id="job1",
        gateway_url=gateway.base_url, created_at="2026-11-25T19:00:00Z", sandbox=True))
    assert path.read_bytes() == reference.read_bytes()


@pytest.mark.parametrize(("first", "then", "saved_as"), [
    (PNG, b"<html>not an image at all</html>", None),  # the retry's bytes are sniffed, not the first try's
    (b"<html>busy, try again</html>" + bytes(4096), PNG, "png"),  # and the first try's leave nothing behind
], ids=["png-then-html", "html-then-png"])
def test_a_retried_download_is_judged_and_saved_by_its_own_bytes(
    first: bytes, then: bytes, saved_as: str | None, make_scripted: Callable[..., ScriptedGateway],
    make_proxy: Callable[..., FaultProxy], tmp_path: Path,
) -> None:
    """The type is sniffed from the bytes as they are written (not read back), and only the first try skips
    emptying the file: a try cut off after its first bytes must not decide the type or stay in the file."""
    from gptimg.gateway.retry import RetryPolicy

    answers = iter([first, then])
    gateway = make_scripted({"GET /cdn/": lambda request: Answer(body=next(answers), content_type="image/png")})
    tries: list[int] = []

    def cut_the_first(seen: object) -> Fault | None:
        tries.append(1)
        return Fault("truncate", keep=len(first) - 8) if len(tries) == 1 else None

    proxy = make_proxy(gateway.base_url, cut_the_first)
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    with GatewayClient(proxy.base_url, None, wire=StdlibWire("gptimg-test"), retry=policy) as client:
        if saved_as is None:
            with pytest.raises(errors.DownloadFailed, match="not an image"):
                download_module.save_image(client, f"{proxy.base_url}/cdn/x/0.png", tmp_path, "fox", "job1")
            assert not list(tmp_path.iterdir())
        else:
            path = download_module.save_image(client, f"{proxy.base_url}/cdn/x/0.png", tmp_path, "fox", "job1")
            assert path.name == f"fox.{saved_as}" and path.read_bytes() == then
    assert len(tries) == 2
