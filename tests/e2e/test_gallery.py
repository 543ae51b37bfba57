"""``gptimg gallery``: one self-contained page, checked as HTML and opened in headless Chromium.

Chromium opens the page from ``file://`` inside a small harness page that reads
its DOM (``--allow-file-access-from-files``), waits for every image, types in the
search box and lists every resource the page fetched. Hostile prompts try to
pull images and scripts from a canary server on loopback: it must hear nothing.
"""

from __future__ import annotations

import html.parser
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from gptimg.jobs.journal import JobJournal
from gptimg.sandbox.images import render_image

from .conftest import CliRunner

pytestmark = pytest.mark.e2e
GPTIMG = (sys.executable, "-m", "gptimg")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Canary(http.server.ThreadingHTTPServer):
    """A loopback server that records every request: the page must never reach it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                canary.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _seed(runner: CliRunner, canary: Canary) -> dict[str, str]:
    """Three jobs, four files (one deleted), in folders whose names need URL quoting, with hostile prompts."""
    pictures = runner.home / "my pictures #1" / "狐 & wolf?"
    pictures.mkdir(parents=True)
    journal = JobJournal(Path(runner.env["GPTIMG_HOME"]) / "journal.sqlite3")
    jobs = {
        "fox": (f'a red fox <img src="{canary.url}/img-tag"> <script src="{canary.url}/script"></script>', 2),
        "wolf": (f'a grey WOLF "><link rel=stylesheet href="{canary.url}/css"><iframe src="{canary.url}/frame">', 1),
        "owl": (f"an owl </figure></div><style>body{{background:url({canary.url}/bg)}}</style>", 1),
    }
    ids: dict[str, str] = {}
    for number, (name, (prompt, n)) in enumerate(jobs.items()):
        job_id = f"{number:02d}{name:0<10}"[:12]
        row = journal.record_submit(gateway="https://agentools.uno", prompt=prompt, style="ghibli_anime",
                                    size="1024x1024", n=n, out_dir=str(pictures))
        journal.record_job_id(row, job_id, estimated_seconds=150, credits_used=150.0 * n)
        files = [pictures / f"{name} {i} #?.png" for i in range(1, n + 1)]
        for index, path in enumerate(files, start=1):
            path.write_bytes(render_image(name, None, "1024x1024", index))
        journal.mark_done(job_id, [{"url": "https://cdn.example/x.png"}] * n, [str(p) for p in files])
        ids[name] = job_id
    (pictures / "owl 1 #?.png").unlink()  # moved away since: shown as missing
    journal.close()
    return ids


def _gallery(runner: CliRunner, canary: Canary) -> tuple[Path, dict[str, str]]:
    ids = _seed(runner, canary)
    page = runner.home / "site" / "gallery.html"
    made = runner.run_json(*GPTIMG, "gallery", "--out", str(page), "--json")
    assert made["data"] == {"path": str(page), "images": 4, "missing": 1, "jobs": 3}
    return page, ids


def test_the_page_is_self_contained_and_escapes_every_prompt(
    cli_runner: Callable[..., CliRunner], canary: Canary
) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    page, ids = _gallery(runner, canary)
    text = page.read_text("utf-8")

    class Tags(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[tuple[str, dict[str, str | None]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(text)
    names = [tag for tag, _ in parser.tags]
    assert names.count("img") == 3 and names.count("script") == 1 and names.count("figure") == 4
    assert "link" not in names and "iframe" not in names and names.count("style") == 1
    assert all(not attrs.get("src") for tag, attrs in parser.tags if tag == "script")  # inline only
    addresses = [attrs.get(name) or "" for _, attrs in parser.tags for name in ("src", "href")]
    assert addresses and not any(canary.url in address or ":" in address for address in addresses)  # relative only
    assert "<script src" not in text and "&lt;script src=&quot;" + canary.url in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert ids["owl"] in text and "missing:" in text


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium; .ci/run installs it in CI)")
def test_chromium_loads_every_image_filters_as_you_type_and_fetches_nothing_outside(
    cli_runner: Callable[..., CliRunner], canary: Canary, tmp_path: Path
) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    page, ids = _gallery(runner, canary)
    harness = page.parent / "harness.html"
    harness.write_text(HARNESS.replace("PAGE", page.name), "utf-8")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1600,4000",
         "--virtual-time-budget=30000", "--dump-dom", harness.as_uri()],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found and found.group(1) != "pending", (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))

    assert len(result["images"]) == 3
    assert all(image["width"] == 1024 for image in result["images"]), result["images"]
    assert result["missing"] == 1
    assert sorted(result["visible_all"]) == sorted([ids["fox"], ids["fox"], ids["wolf"], ids["owl"]])
    assert result["visible_wolf"] == [ids["wolf"]] and result["shown_wolf"] == "1 of 4"
    assert result["visible_fox_ghibli"] == [ids["fox"], ids["fox"]]
    assert result["visible_nothing"] == []
    assert sorted(result["visible_cleared"]) == sorted(result["visible_all"])
    # Chromium leaves file: loads out of Resource Timing: any entry at all would be a fetch from elsewhere.
    assert all(url.startswith("file:") for url in result["resources"]), result["resources"]
    assert canary.hits == []


HARNESS = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="PAGE" style="width:1500px;height:3800px"></iframe>
<script>
var frame = document.getElementById("page");
frame.addEventListener("load", function () {
  var doc = frame.contentDocument, win = frame.contentWindow;
  function visible() {
    return Array.prototype.filter.call(doc.querySelectorAll("figure"), function (f) {
      return win.getComputedStyle(f).display !== "none";
    }).map(function (f) { return f.getAttribute("data-job-id"); });
  }
  function type(text) {
    var box = doc.getElementById("search");
    box.value = text;
    box.dispatchEvent(new win.Event("input", {bubbles: true}));
    return visible();
  }
  function settled() {
    return Array.prototype.every.call(doc.images, function (img) { return img.complete; });
  }
  var tries = 0;
  (function wait() {
    tries += 1;
    if (!settled() && tries < 400) { setTimeout(wait, 25); return; }  // virtual time: no real waiting
    var out = {};
    out.images = Array.prototype.map.call(doc.images, function (img) {
      return {src: img.currentSrc, width: img.naturalWidth};
    });
    out.missing = doc.querySelectorAll(".missing-file").length;
    out.visible_all = visible();
    out.visible_wolf = type("WOLF");
    out.shown_wolf = doc.getElementById("shown").textContent;
    out.visible_fox_ghibli = type("fox  ghibli");
    out.visible_nothing = type("zebra");
    out.visible_cleared = type("");
    out.resources = win.performance.getEntriesByType("resource").map(function (r) { return r.name; });
    out.tries = tries;
    document.getElementById("result").textContent = JSON.stringify(out);
  })();
});
</script></body></html>
"""
