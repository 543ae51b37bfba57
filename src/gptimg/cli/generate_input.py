"""What a person types to ``generate``, read forgivingly and checked before anything is spent.

The prompt may come from the command line, from ``-`` (stdin) or from
``--prompt-file``; each is passed on verbatim (long and non-English text
included). ``-`` with nothing on stdin is an error, never a paid job for the
text "-". ``--style Ghibli_Anime`` and ``--size 1024X1024`` / ``1024*1024``
mean what they obviously mean; ``-n 10`` is pointed at ``batch``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gptimg import errors
from gptimg.image_tool import MAX_IMAGES, MAX_PROMPT_CHARS
from gptimg.styles import STYLES

#: A prompt file bigger than this is not a prompt (the gateway takes 32,000 characters).
MAX_PROMPT_FILE_BYTES = 4 * MAX_PROMPT_CHARS


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.UsageError(
            f"The prompt from {source} is not UTF-8 text.", hint="Save the prompt as UTF-8."
        ) from None


def _stdin_is_empty_terminal() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (AttributeError, ValueError):
        return True


def _strip_one_newline(text: str) -> str:
    """``echo "a cat" |`` adds one line end; that is not part of the prompt. Everything else is."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def read_prompt(prompt: str | None, prompt_file: str | None) -> str:
    """The prompt text from the argument, ``-`` (stdin) or ``--prompt-file`` (exactly one of them)."""
    if prompt is not None and prompt_file is not None:
        raise errors.UsageError(
            "Give the prompt once: as an argument or with --prompt-file, not both."
        )
    if prompt_file is not None:
        if prompt_file == "-":
            return read_prompt("-", None)
        path = Path(prompt_file).expanduser()
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_PROMPT_FILE_BYTES + 1)
        except OSError as exc:
            raise errors.UsageError(
                f"Cannot read --prompt-file {path}: {exc.strerror or exc}."
            ) from None
        if len(data) > MAX_PROMPT_FILE_BYTES:
            raise errors.UsageError(
                f"--prompt-file {path} is larger than {MAX_PROMPT_FILE_BYTES} bytes; that is not one prompt.",
                hint=f"A prompt is at most {MAX_PROMPT_CHARS} characters. Many prompts? Use: gptimg batch FILE",
            )
        return _strip_one_newline(_decode(data, str(path)))
    if prompt is None:
        raise errors.UsageError(
            "No prompt given.",
            hint='Describe the image: gptimg generate "a red fox"  (or - for stdin, or --prompt-file FILE)',
        )
    if prompt != "-":
        return prompt
    if _stdin_is_empty_terminal():
        raise errors.UsageError(
            "The prompt is '-' (read stdin) but stdin is a terminal, not a pipe or a file.",
            hint='Pipe the prompt in: echo "a red fox" | gptimg generate -   (nothing was spent)',
        )
    data = sys.stdin.buffer.read(MAX_PROMPT_FILE_BYTES + 1)
    text = _strip_one_newline(_decode(data, "stdin"))
    if not text.strip():
        raise errors.UsageError(
            "The prompt is '-' (read stdin) but stdin was empty; nothing was spent.",
            hint='Pipe the prompt in: echo "a red fox" | gptimg generate -',
        )
    return text


def friendly_style(style: str | None) -> str | None:
    """``Ghibli_Anime``, ``ghibli-anime`` and ``ghibli anime`` all mean ``ghibli_anime``."""
    if style is None:
        return None
    key = style.strip().lower().replace("-", "_").replace(" ", "_")
    return key if key in STYLES else style


def friendly_size(size: str | None) -> str | None:
    """``1024X1024``, ``1024*1024``, ``1024×1024`` and ``AUTO`` mean the sizes they look like."""
    if size is None:
        return None
    text = size.strip().lower().replace(" ", "")
    for sign in ("*", "×", ":", ","):
        text = text.replace(sign, "x")
    return text


def check_image_count(n: int | None) -> None:
    """More than one job's worth of images is a batch; say so rather than quoting the range."""
    if n is not None and n > MAX_IMAGES:
        raise errors.UsageError(
            f"One job makes at most {MAX_IMAGES} images; -n {n} would need several jobs.",
            hint=f"For more images, list the prompt {-(-n // MAX_IMAGES)} times in a manifest and run: "
            "gptimg batch prompts.txt",
        )


def finish_line(saved: int, seconds: float, credits_used: float | None, balance_after: float | None) -> str:
    """``Saved 2 images in 2:31, 300 credits used, balance 2700 credits.`` (ASCII: shown on any terminal)."""
    from gptimg.cli.progress import clock_text

    parts = [f"Saved {saved} image{'s' if saved != 1 else ''} in {clock_text(seconds)}"]
    if credits_used is not None:
        parts.append(f"{credits_used:g} credits used")
    if balance_after is not None:
        parts.append(f"balance {balance_after:g} credits")
    return ", ".join(parts) + "."
