"""What a generation asks for, checked against the tool's documented ranges before any credit is spent."""

from __future__ import annotations

from typing import Any, NamedTuple

from gptimg.errors import InvalidArguments
from gptimg.image_tool import DEFAULT_SIZE, MAX_IMAGES, MAX_PROMPT_CHARS, MIN_IMAGES, SIZES
from gptimg.styles import STYLES, suggest_styles


class GenerationRequest(NamedTuple):
    """One submit's worth of intent. ``references`` are still raw (paths, URLs, data URIs).

    A NamedTuple rather than a dataclass: the agent CLI's submit path checks arguments
    here, and importing ``dataclasses`` would cost it ~15 ms a call.
    """

    prompt: str
    size: str = DEFAULT_SIZE
    n: int = 1
    style: str | None = None
    references: tuple[str, ...] = ()

    def arguments(self, reference_field: str | None = None) -> dict[str, Any]:
        """The submit tool's ``arguments``; ``reference_field`` is the already-uploaded list."""
        args: dict[str, Any] = {"prompt": self.prompt, "size": self.size, "n": self.n}
        if self.style:
            args["style"] = self.style
        if reference_field:
            args["reference_image_urls"] = reference_field
        return args


def check_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidArguments("The prompt is empty.", hint="Describe the image, e.g. gptimg generate \"a red fox\".")
    if "\x00" in prompt:
        raise InvalidArguments("The prompt contains a NUL character.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidArguments(
            f"The prompt is {len(prompt)} characters; at most {MAX_PROMPT_CHARS} fit in one call.",
            hint="Shorten the prompt.",
        )
    return prompt


def check_size(size: Any) -> str:
    if size is None or size == "":
        return DEFAULT_SIZE
    if not isinstance(size, str) or size not in SIZES:
        raise InvalidArguments(f"Unknown size {size!r}.", hint="Use one of: " + ", ".join(SIZES))
    return size


def check_n(n: Any) -> int:
    if n is None or n == "":
        return 1
    if isinstance(n, str) and n.strip().isdigit():
        n = int(n.strip())
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_IMAGES <= n <= MAX_IMAGES:
        raise InvalidArguments(
            f"n must be a whole number from {MIN_IMAGES} to {MAX_IMAGES}, not {n!r}.",
            hint=f"Ask for {MIN_IMAGES} to {MAX_IMAGES} images per job.",
        )
    return n


def check_style(style: Any) -> str | None:
    if style is None or style == "":
        return None
    if isinstance(style, str) and style in STYLES:
        return style
    close = suggest_styles(str(style))
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    raise InvalidArguments(f"Unknown style {style!r}.", hint=hint + "See all 20 with: gptimg styles")


def build_request(
    prompt: Any, *, size: Any = None, n: Any = None, style: Any = None, references: Any = ()
) -> GenerationRequest:
    if isinstance(references, str):
        from gptimg.references import split_reference_list

        references = split_reference_list(references)
    return GenerationRequest(
        prompt=check_prompt(prompt),
        size=check_size(size),
        n=check_n(n),
        style=check_style(style),
        references=tuple(str(r) for r in (references or ())),
    )


def check_submit_arguments(arguments: dict[str, Any]) -> None:
    """The agent CLI's pre-flight for a raw submit: known fields only; others pass through.

    A failure names its field in ``details["fields"]``, as the gateway's ``invalid_arguments`` does.
    """
    checks: list[tuple[str, Any]] = [("prompt", lambda: check_prompt(arguments.get("prompt")))]
    if "size" in arguments:
        checks.append(("size", lambda: check_size(arguments["size"])))
    if "n" in arguments:
        checks.append(("n", lambda: _check_n_number(arguments["n"])))
    if "style" in arguments and arguments["style"] not in (None, ""):
        checks.append(("style", lambda: check_style(arguments["style"])))
    for field, check in checks:
        try:
            check()
        except InvalidArguments as exc:
            exc.details.setdefault("fields", [field])
            raise


def _check_n_number(n: Any) -> int:
    if isinstance(n, str):
        raise InvalidArguments(f"n must be a number from {MIN_IMAGES} to {MAX_IMAGES}, not a string.")
    return check_n(n)
