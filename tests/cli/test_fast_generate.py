"""The quick ``generate`` parser against click: it declines, or it reads a line exactly as Typer does.

A misread paid command spends someone's money on the wrong thing, so the quick
parser (``gptimg.cli.fast_generate``) is held to click's own reading of
thousands of generated command lines: ordinary ones, and hostile ones (values
that look like flags, empty and non-ASCII values, repeats, ``--``, abbreviations,
clusters, globals anywhere). For every line it accepts, the root options and the
keyword arguments must equal, value and type, what Typer passes to ``run_generate``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from typing import Any, Callable

import pytest

from gptimg import errors
from gptimg.cli import _hoist_global_options, fast_generate
from gptimg.cli.generate_options import PARAMETERS, Parameter

from ._support import Run

#: Values for every kind, hostile ones included.
TEXTS = ["out", "a red fox", "", "-", "-x", "--yes", "--json", "=", "a=b", "日本語の猫", "🦊 fox", " ", "x\ny",
         "generate", "--", "-n", "--out=y", "ghibli_anime", "1024x1024"]
INTS = ["1", "2", "4", "9", "0", "-1", "+3", "1_0", " 2 ", "٣", "x", "1.5", "", "0x1", "1e2"]
FLOATS = ["1", "0", "-1", "1.5", "inf", "nan", "1e3", "x", "", " 2 ", "1_5", "-inf", "0x1"]
#: Tokens click reads specially, or that are not quite our flags.
ODD_TOKENS = ["--", "-h", "--help", "--version", "-V", "--ov", "--dry", "--YES", "--yes=1", "--yes=", "-yo",
              "-n2", "-o=x", "--out=", "--ref=r.png", "--images=3", "--timeout=5", "--bogus", "-", "-yy", "-nn",
              "--base-url", "--json=1", "--no-yes", "—yes", "−n"]
URLS = ["http://127.0.0.1:9", "", "--json", "-x", "https://example.invalid/a b"]


def _values(parameter: Parameter) -> list[str]:
    return {"int": INTS, "float": FLOATS}.get(parameter.kind, TEXTS)


def _option_tokens(rng: random.Random, parameter: Parameter) -> list[str]:
    flag = rng.choice(parameter.flags)
    if not parameter.takes_value:
        return [flag]
    value = rng.choice(_values(parameter))
    if flag.startswith("--") and rng.random() < 0.25:
        return [f"{flag}={value}"]
    return [flag, value]


def _global_tokens(rng: random.Random) -> list[str]:
    if rng.random() < 0.5:
        return ["--json"]
    url = rng.choice(URLS)
    return [f"--base-url={url}"] if rng.random() < 0.3 else ["--base-url", url]


def _line(rng: random.Random) -> list[str]:
    """One command line: mostly plausible, sometimes hostile."""
    options = [p for p in PARAMETERS if p.flags]
    parts: list[list[str]] = [_option_tokens(rng, rng.choice(options)) for _ in range(rng.randint(0, 6))]
    if rng.random() < 0.85:
        parts.insert(rng.randint(0, len(parts)), [rng.choice(TEXTS)])  # the prompt, anywhere
    if rng.random() < 0.15:
        parts.insert(rng.randint(0, len(parts)), [rng.choice(TEXTS)])  # a second positional
    if rng.random() < 0.2:
        parts.insert(rng.randint(0, len(parts)), [rng.choice(ODD_TOKENS)])
    if rng.random() < 0.1 and parts and len(parts[-1]) == 2:
        parts[-1] = parts[-1][:1]  # the last option's value missing
    tokens = [token for part in parts for token in part]
    head = ["generate"] if rng.random() < 0.95 else [rng.choice(["generat", "Generate", "styles", "--json"])]
    line = head + tokens
    for _ in range(rng.choice([0, 0, 1, 2])):  # globals anywhere, as main's hoisting allows
        at = rng.randint(0, len(line))
        line[at:at] = _global_tokens(rng)
    return line


def _lines(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    lines = [_line(rng) for _ in range(count)]
    lines += [  # each flag, spelled every way it may be, at least once
        ["generate", "p", *(_option_tokens(random.Random(i), parameter))]
        for parameter in PARAMETERS if parameter.flags for i in range(8)
    ]
    lines.append(["generate", "benchmark image", "--yes", "--json", "--out", "/tmp/o"])
    return lines


@pytest.fixture(scope="module")
def click_reading() -> Callable[[list[str]], Any]:
    """What Typer passes for a (hoisted) line: ``(json, base_url, arguments)``, or None if it runs nothing."""
    import typer.main

    import gptimg.cli.generate_cmd  # noqa: F401  (registers the Typer command built from the table)
    from gptimg.cli import generate_flow
    from gptimg.cli.app import app, session

    command = typer.main.get_command(app)
    seen: list[Any] = []

    def capture(**arguments: Any) -> None:
        seen.append((session.output.json_mode, session.base_url_flag, arguments))

    def read(args: list[str]) -> Any:
        seen.clear()
        real, generate_flow.run_generate = generate_flow.run_generate, capture
        try:
            command.main(args=list(args), prog_name="gptimg", standalone_mode=False)
        except Exception as exc:  # click's usage errors, typer.Exit from --help: nothing run
            if not any(c.__name__ in ("ClickException", "Exit") for c in type(exc).__mro__):
                raise
        finally:
            generate_flow.run_generate = real
            session.close()
        return seen[0] if seen else None

    return read


def _typed(reading: Any) -> Any:
    """A reading as reprs, types beside them: 5 and 5.0, or None and [], differ; nan equals nan."""
    json_output, base_url, arguments = reading
    return repr(json_output), repr(base_url), {name: (type(value).__name__, repr(value)) for name, value in arguments.items()}


def first_disagreement(lines: list[list[str]], click_reading: Callable[[list[str]], Any],
                       parameters: tuple[Parameter, ...] = PARAMETERS) -> tuple[list[str], Any, Any] | None:
    """The first line the quick parser reads differently from click (declining is never a disagreement)."""
    for raw in lines:
        args = _hoist_global_options(raw)
        quick = fast_generate.read_line(args, parameters)
        if quick is None:
            continue
        ours = (quick.json_output, quick.base_url, quick.arguments)
        theirs = click_reading(args)
        if theirs is None or _typed(ours) != _typed(theirs):
            return raw, ours, theirs
    return None


def test_every_line_the_quick_parser_accepts_is_read_as_click_reads_it(
    click_reading: Callable[[list[str]], Any],
) -> None:
    lines = _lines(3000, seed=15)
    assert first_disagreement(lines, click_reading) is None
    # Not a vacuous pass: a good share of lines (every flag among them) took the quick way.
    accepted = [q for q in (fast_generate.read_line(_hoist_global_options(line)) for line in lines) if q]
    assert len(accepted) > len(lines) // 5
    for parameter in PARAMETERS:
        assert any(q.arguments[parameter.name] != parameter.default for q in accepted), parameter.name
    assert any(q.json_output for q in accepted) and any(q.base_url for q in accepted)


def test_lines_click_refuses_or_reads_specially_are_left_to_typer(
    click_reading: Callable[[list[str]], Any],
) -> None:
    for line in (
        ["generate", "x", "-yo", "d"], ["generate", "x", "-n2"], ["generate", "--", "-x"], ["generate", "x", "--ov"],
        ["generate", "x", "--help"], ["generate", "x", "y"], ["generate", "x", "--out"], ["generate", "x", "-n", "x"],
        ["generate", "x", "--out", "a", "--out", "b"], ["generate", "x", "--yes=1"], ["--version", "generate"],
        ["generate", "x", "--out", "--yes"], ["--base-url", "a", "--base-url", "b", "generate", "x"],
        ["generat", "x"], ["generate", "-x"],
    ):
        assert fast_generate.read_line(_hoist_global_options(line)) is None, line


def _swap_flags(parameters: tuple[Parameter, ...], one: str, other: str) -> tuple[Parameter, ...]:
    named = {p.name: p for p in parameters}
    changed = []
    for p in parameters:
        flags = named[other].flags if p.name == one else named[one].flags if p.name == other else p.flags
        changed.append(Parameter(p.name, flags, p.kind, p.help, default=p.default, metavar=p.metavar))
    return tuple(changed)


def _retyped(parameters: tuple[Parameter, ...], name: str, kind: str) -> tuple[Parameter, ...]:
    return tuple(Parameter(p.name, p.flags, kind if p.name == name else p.kind, p.help,
                           default=p.default, metavar=p.metavar) for p in parameters)


@pytest.mark.parametrize("broken", [
    pytest.param(lambda ps: _swap_flags(ps, "style", "size"), id="style-and-size-swapped"),
    pytest.param(lambda ps: _retyped(ps, "timeout", "text"), id="timeout-read-as-text"),
    pytest.param(lambda ps: _retyped(ps, "n", "float"), id="count-read-as-float"),
    pytest.param(lambda ps: _retyped(ps, "refs", "text"), id="ref-not-repeatable"),
    pytest.param(lambda ps: tuple(p for p in ps if p.name != "dry_run"), id="dry-run-forgotten"),
])
def test_the_comparison_catches_a_quick_parser_that_reads_the_table_wrongly(
    click_reading: Callable[[list[str]], Any], broken: Callable[[tuple[Parameter, ...]], tuple[Parameter, ...]],
) -> None:
    assert first_disagreement(_lines(600, seed=16), click_reading, broken(PARAMETERS)) is not None


# --- the same line, read quickly or by Typer, runs the same command ------------------------------------------


@pytest.mark.parametrize("args", [
    ["generate", "a red fox", "--json"],  # no --yes and no terminal: nothing spent
    ["generate", "a red fox", "-n", "9", "--yes", "--json"],
    ["generate", "a red fox", "--size", "7x7", "--yes"],
    ["generate", "--json", "a red fox", "--timeout", "nan", "--yes"],
    ["generate", "--prompt-file", "missing.txt", "--yes", "--json"],
    ["generate", "a red fox", "--style", "Ghibli-Anime", "--ref", "a.png", "--dry-run", "--json"],
    ["generate", "a red fox", "--no-wait", "--sandbox", "--yes"],
    ["generate", "--json"],
])
def test_refusals_and_dry_runs_say_the_same_either_way(
    run: Callable[..., Run], sandbox: Any, logged_in: str, args: list[str], tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    assert fast_generate.read_line(_hoist_global_options(args)) is not None  # this line does take the quick way
    quick = run(*args)
    with monkeypatch.context() as patched:
        patched.setattr(fast_generate, "read_line", lambda args, parameters=PARAMETERS: None)
        typer = run(*args)
    assert (quick.code, quick.out, quick.err) == (typer.code, typer.out, typer.err)
    assert quick.code in (0, errors.EXIT_BAD_INPUT)
    assert sandbox.stats()["submits"] == 0


@pytest.mark.e2e
@pytest.mark.parametrize("extra", [[], ["-n1"]], ids=["quick", "typer"])
def test_a_closed_stdout_ends_quietly_with_exit_1_either_way(extra: list[str]) -> None:
    """Typer turns a broken stdout pipe into exit 1 and quiet streams; the quick way must too."""
    args = ["generate", "x", "--dry-run", "--json", *extra]
    assert (fast_generate.read_line(_hoist_global_options(args)) is not None) == (not extra)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "gptimg", *args], stdout=writer, stderr=subprocess.PIPE,
                              timeout=60)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (1, b"")
