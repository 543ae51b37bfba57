"""One self-contained HTML page of images with what made them: the batch contact sheet and the gallery.

Both are the same page: a grid of tiles, each an image (or a note that its file
is missing) with its prompt and facts. No server, CDN, font or script from
outside: it must open from ``file://``, offline, years later. A Content Security
Policy says so to the browser too: images only from files (relative paths, so a
folder can be moved as a whole), and only the page's own inline style and
search script, pinned by their hashes. Every string from outside (prompts,
manifests, the gateway) is HTML-escaped; a prompt cannot add markup or script.
"""

from __future__ import annotations

import binascii
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from gptimg.digests import sha256_digest

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;background:#fafafa;color:#222}
h1{font-size:1.3rem;margin:0 0 1rem}
.search{margin:0 0 1rem;display:flex;gap:.75rem;align-items:center}
.search input{font-size:1rem;padding:.35rem .5rem;width:min(30rem,100%)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:1rem}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem}
figure[hidden]{display:none}
figure img{width:100%;height:auto;display:block;border-radius:4px;background:#eee}
.missing-file{aspect-ratio:1;display:flex;align-items:center;justify-content:center;text-align:center;
background:repeating-linear-gradient(45deg,#f3f3f3,#f3f3f3 10px,#e8e8e8 10px,#e8e8e8 20px);
color:#a33;border-radius:4px;font-size:.8rem;padding:.5rem;word-break:break-all}
figcaption{font-size:.8rem;line-height:1.35;margin-top:.4rem;word-wrap:break-word}
figcaption .prompt{font-weight:600;display:block;margin-bottom:.2rem;white-space:pre-wrap}
figcaption dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:0 .5rem;color:#555}
figcaption dt{font-weight:600}
figcaption dd{margin:0;font-family:ui-monospace,monospace}
"""

#: Filters the tiles as the person types: every word must appear in the tile's text.
SEARCH_SCRIPT = """
(function () {
  var box = document.getElementById("search");
  var count = document.getElementById("shown");
  var tiles = Array.prototype.slice.call(document.querySelectorAll("figure[data-search]"));
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    tiles.forEach(function (tile) {
      var text = tile.getAttribute("data-search");
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      tile.hidden = !match;
      if (match) { shown += 1; }
    });
    count.textContent = shown + " of " + tiles.length;
  }
  box.addEventListener("input", apply);
  apply();
})();
"""


@dataclass(frozen=True)
class Tile:
    """One image on the page and what to say about it (``facts``: label, value)."""

    #: A ``str`` is taken as well: the batch's sheet makes thousands of tiles, and a ``Path`` each cost time and memory.
    path: Path | str
    prompt: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # data-* attributes, for scripts and tests
    exists: bool = True


def _hash(text: str) -> str:
    """The CSP source for an inline ``text``: its SHA-256, base64 (``binascii``'s, which ``base64`` calls)."""
    return "'sha256-" + binascii.b2a_base64(sha256_digest(text.encode("utf-8")), newline=False).decode("ascii") + "'"


def escape(text: str) -> str:
    """``html.escape(text)``, the same five replacements in the same order.

    ``import html`` loads ``html.entities`` (its 2,000-entry tables, ~2 ms) for ``unescape``, which
    nothing here calls; a re-run of a finished batch renders the sheet's probe tiles every time.
    """
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#x27;"))


def image_src(path: Path | str, page_dir: str, real_page_dir: str) -> str:
    """The image's address from the page: relative when it can be, else a ``file:`` URI.

    ``page_dir`` absolute and ``real_page_dir`` resolved, once per page. A file right
    beside the page (every image a batch saves) is just its name, found without
    touching the disk: resolving each path cost ~0.5 ms an image.
    """
    absolute = os.path.abspath(path)
    if os.path.dirname(absolute) == page_dir:
        return quote(os.path.basename(absolute))
    resolved = Path(path).resolve()
    try:
        relative = os.path.relpath(resolved, real_page_dir)
    except ValueError:  # another drive (Windows)
        return resolved.as_uri()
    return quote(relative.replace(os.sep, "/"))


def _tile_html(tile: Tile, page_dir: str, real_page_dir: str) -> str:
    e = escape
    facts = [(k, v) for k, v in tile.facts if v]
    rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    search = " ".join([tile.prompt, *(v for _, v in facts)]).lower()
    attributes = "".join(f' data-{e(k)}="{e(v)}"' for k, v in tile.attributes.items())
    if tile.exists:
        src = e(image_src(tile.path, page_dir, real_page_dir))
        picture = f'<a href="{src}"><img src="{src}" alt="{e(tile.prompt)}" loading="lazy"></a>'
    else:
        picture = f'<div class="missing-file" role="img">missing: {e(str(tile.path))}</div>'
    if not tile.exists:
        attributes += ' data-missing="1"'
    return (
        f'<figure data-search="{e(search)}"{attributes}>{picture}'
        f'<figcaption><span class="prompt">{e(tile.prompt)}</span><dl>{rows}</dl></figcaption></figure>'
    )


def page_parts(tiles: Iterable[Tile], page_dir: Path, *, title: str, count: int, missing: int = 0,
               marker: str = "", search: bool = True) -> Iterator[str]:
    """The page piece by piece, one tile at a time: a 5,000-image page is never one string in memory.

    ``count`` and ``missing`` go in the heading, before the first tile, so the caller
    counts them first (``render_page`` from a list; the batch's sheet in a first pass).
    """
    e = escape
    policy = f"default-src 'none'; img-src 'self' file: data:; style-src {_hash(STYLE)}"
    policy += f"; script-src {_hash(SEARCH_SCRIPT)}" if search else ""
    heading = f"{e(title)} &mdash; {count} image{'s' if count != 1 else ''}"
    heading += f" ({missing} missing)" if missing else ""
    box = (
        '<div class="search"><input id="search" type="search" placeholder="Search prompts, styles, job ids…"'
        ' aria-label="Search" autofocus><span id="shown"></span></div>'
        if search
        else ""
    )
    yield (
        "<!DOCTYPE html>\n"
        f"{marker + chr(10) if marker else ''}"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{heading}</h1>{box}<div class="grid">'
    )
    dirs = (os.path.abspath(page_dir), str(page_dir.resolve()))
    for tile in tiles:
        yield _tile_html(tile, *dirs)
    script = f"<script>{SEARCH_SCRIPT}</script>" if search else ""
    yield f"</div>{script}</body></html>\n"


def render_page(tiles: list[Tile], page_dir: Path, *, title: str, marker: str = "", search: bool = True) -> str:
    """The whole page; ``page_dir`` is where it will be written (image paths are relative to it)."""
    missing = sum(1 for tile in tiles if not tile.exists)
    return "".join(page_parts(tiles, page_dir, title=title, count=len(tiles), missing=missing, marker=marker,
                              search=search))


def write_page(text: str | Iterable[str], target: Path, *, seal: Callable[[str], str] | None = None) -> Path:
    """Write ``text`` (the page, or its parts in order) to ``target`` atomically (a reader never sees half a page).

    ``seal``, when given, makes the page's last line from the CRC-32 (8 hex digits) of every
    byte written before it: the batch's contact sheet tells from it that it was not edited or
    cut short since (a check against accidents, which CRC-32 is made for: 0.4 ms a megabyte,
    where SHA-256 needed OpenSSL, ~7 ms to load, or a built-in 5 ms a megabyte).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".gptimg-page-", suffix=".html.part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            crc = 0
            for part in (text,) if isinstance(text, str) else text:
                data = part.encode("utf-8")
                crc = zlib.crc32(data, crc)
                sink.write(data)
            if seal is not None:
                sink.write(seal(f"{crc:08x}").encode("utf-8"))
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # as readable as any file the person saves, not mkstemp's 0600
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
