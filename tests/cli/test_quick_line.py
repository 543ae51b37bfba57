"""The quick reader against click: it declines, or it reads a line exactly as Typer does.

A misread paid command spends someone's money on the wrong thing, so the quick
reader (``gptimg.cli.quick_line``) is held to click's own reading of thousands of
generated command lines of each command it reads (``generate``, ``batch``):
ordinary ones, and hostile ones (values that look like flags, empty and non-ASCII
values, numbers out of bounds, repeats, ``--``, abbreviations, clusters, globals
anywhere). For every line it accepts, the root options and the keyword arguments
must equal, value and type, what Typer passes to the command's body.
"""

from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys
from typing import Any, Callable

import pytest

from gptimg import errors
from gptimg.cli import _hoist_global_options, quick_line
from gptimg.cli.command_modules import COMMAND_MODULES
from gptimg.cli.option_table import Parameter

from ._support import Run

#: Values for every kind, hostile ones included.
TEXTS = ["out", "a red fox", "", "-", "-x", "--yes", "--json", "=", "a=b", "日本語の猫", "🦊 fox", " ", "x\ny",
         "generate", "batch", "--", "-n", "--out=y", "ghibli_anime", "1024x1024", "m.jsonl"]
INTS = ["1", "2", "4", "9", "0", "-1", "+3", "1_0", " 2 ", "٣", "x", "1.5", "", "0x1", "1e2", "512", "513", "600",
        "+0", "00"]
FLOATS = ["1", "0", "-1", "1.5", "inf", "nan", "1e3", "x", "", " 2 ", "1_5", "-inf", "0x1", "-0", "+0", "1e-9"]
#: Tokens click reads specially, or that are not quite our flags.
ODD_TOKENS = ["--", "-h", "--help", "--version", "-V", "--ov", "--dry", "--YES", "--yes=1", "--yes=", "-yo",
              "-n2", "-o=x", "--out=", "--ref=r.png", "--images=3", "--timeout=5", "--bogus", "-", "-yy", "-nn",
              "--base-url", "--json=1", "--no-yes", "—yes", "−n", "-c4", "--conc", "--concurrency=", "-cy",
              "--max-credits=", "--rate=5"]
URLS = ["http://127.0.0.1:9", "", "--json", "-x", "https://example.invalid/a b"]
#: Each command the reader reads: its Typer module (registers it), and its body's module and function.
COMMANDS = {name: ("gptimg.cli." + COMMAND_MODULES[name], module, function)
            for name, (_, module, function) in quick_line.COMMANDS.items()}


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


def _line(rng: random.Random, command: str) -> list[str]:
    """One command line: mostly plausible, sometimes hostile."""
    options = [p for p in quick_line.parameters_of(command) if p.flags]
    parts: list[list[str]] = [_option_tokens(rng, rng.choice(options)) for _ in range(rng.randint(0, 6))]
    if rng.random() < 0.85:
        parts.insert(rng.randint(0, len(parts)), [rng.choice(TEXTS)])  # the positional, anywhere
    if rng.random() < 0.15:
        parts.insert(rng.randint(0, len(parts)), [rng.choice(TEXTS)])  # a second positional
    if rng.random() < 0.2:
        parts.insert(rng.randint(0, len(parts)), [rng.choice(ODD_TOKENS)])
    if rng.random() < 0.1 and parts and len(parts[-1]) == 2:
        parts[-1] = parts[-1][:1]  # the last option's value missing
    tokens = [token for part in parts for token in part]
    head = [command] if rng.random() < 0.95 else [rng.choice([command[:-1], command.title(), "styles", "--json"])]
    line = head + tokens
    for _ in range(rng.choice([0, 0, 1, 2])):  # globals anywhere, as main's hoisting allows
        at = rng.randint(0, len(line))
        line[at:at] = _global_tokens(rng)
    return line


def _lines(count: int, seed: int, command: str) -> list[list[str]]:
    rng = random.Random(seed)
    lines = [_line(rng, command) for _ in range(count)]
    lines += [  # each flag, spelled every way it may be, at least once
        [command, "p", *(_option_tokens(random.Random(i), parameter))]
        for parameter in quick_line.parameters_of(command) if parameter.flags for i in range(8)
    ]
    lines.append(["generate", "benchmark image", "--yes", "--json", "--out", "/tmp/o"] if command == "generate" else
                 ["batch", "batch.jsonl", "--concurrency", "64", "--rate-limit", "0", "--yes", "--json", "--out", "o"])
    return lines


ClickReading = Callable[[str, list[str]], Any]


@pytest.fixture(scope="module")
def click_reading() -> ClickReading:
    """What Typer passes to a command's body for a (hoisted) line: ``(json, base_url, arguments)``, or None if it
    runs nothing."""
    import typer.main

    from gptimg.cli.app import app, session

    for typer_module, _, _ in COMMANDS.values():
        importlib.import_module(typer_module)  # registers the Typer command built from the table
    command = typer.main.get_command(app)
    seen: list[Any] = []

    def capture(**arguments: Any) -> None:
        seen.append((session.output.json_mode, session.base_url_flag, arguments))

    def read(name: str, args: list[str]) -> Any:
        seen.clear()
        _, module_name, function = COMMANDS[name]
        module = importlib.import_module(module_name)
        real = getattr(module, function)
        setattr(module, function, capture)
        try:
            command.main(args=list(args), prog_name="gptimg", standalone_mode=False)
        except Exception as exc:  # click's usage errors, typer.Exit from --help: nothing run
            if not any(c.__name__ in ("ClickException", "Exit") for c in type(exc).__mro__):
                raise
        finally:
            setattr(module, function, real)
            session.close()
        return seen[0] if seen else None

    return read


def _typed(reading: Any) -> Any:
    """A reading as reprs, types beside them: 5 and 5.0, or None and [], differ; nan equals nan."""
    json_output, base_url, arguments = reading
    return repr(json_output), repr(base_url), {name: (type(value).__name__, repr(value)) for name, value in arguments.items()}


def first_disagreement(command: str, lines: list[list[str]], click_reading: ClickReading,
                       parameters: tuple[Parameter, ...] | None = None) -> tuple[list[str], Any, Any] | None:
    """The first line the quick reader reads differently from click (declining is never a disagreement)."""
    for raw in lines:
        args = _hoist_global_options(raw)
        quick = quick_line.read_line(args, command, parameters)
        if quick is None:
            continue
        ours = (quick.json_output, quick.base_url, quick.arguments)
        theirs = click_reading(command, args)
        if theirs is None or _typed(ours) != _typed(theirs):
            return raw, ours, theirs
    return None


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_line_the_quick_reader_accepts_is_read_as_click_reads_it(click_reading: ClickReading,
                                                                       command: str) -> None:
    lines = _lines(3000, seed=15, command=command)
    assert first_disagreement(command, lines, click_reading) is None
    # Not a vacuous pass: a good share of lines (every flag among them) took the quick way.
    accepted = [q for q in (quick_line.read_line(_hoist_global_options(line), command) for line in lines) if q]
    assert len(accepted) > len(lines) // 8
    for parameter in quick_line.parameters_of(command):
        assert any(q.arguments[parameter.name] != parameter.default for q in accepted), parameter.name
    assert any(q.json_output for q in accepted) and any(q.base_url for q in accepted)


@pytest.mark.parametrize("line", [
    ["generate", "x", "-yo", "d"], ["generate", "x", "-n2"], ["generate", "--", "-x"], ["generate", "x", "--ov"],
    ["generate", "x", "--help"], ["generate", "x", "y"], ["generate", "x", "--out"], ["generate", "x", "-n", "x"],
    ["generate", "x", "--out", "a", "--out", "b"], ["generate", "x", "--yes=1"], ["--version", "generate"],
    ["generate", "x", "--out", "--yes"], ["--base-url", "a", "--base-url", "b", "generate", "x"],
    ["generat", "x"], ["generate", "-x"],
    ["batch"], ["batch", "--yes", "--json"], ["batch", "m", "-c", "0"], ["batch", "m", "--concurrency", "513"],
    ["batch", "m", "-c4"], ["batch", "m", "n"], ["batch", "m", "--conc", "4"], ["batch", "m", "--rate-limit", "-1"],
    ["batch", "m", "--max-credits", "-0.5"], ["batch", "m", "--ref", "r.png"], ["batch", "m", "--help"],
])
def test_lines_click_refuses_or_reads_specially_are_left_to_typer(line: list[str]) -> None:
    args = _hoist_global_options(line)
    assert all(quick_line.read_line(args, command) is None for command in COMMANDS), line


def _swap_flags(parameters: tuple[Parameter, ...], one: str, other: str) -> tuple[Parameter, ...]:
    named = {p.name: p for p in parameters}
    changed = []
    for p in parameters:
        flags = named[other].flags if p.name == one else named[one].flags if p.name == other else p.flags
        changed.append(_copy(p, flags=flags))
    return tuple(changed)


def _copy(p: Parameter, **changes: Any) -> Parameter:
    fields = {"flags": p.flags, "kind": p.kind, "default": p.default, "minimum": p.minimum, "maximum": p.maximum,
              **changes}
    if fields["kind"] not in ("int", "float"):
        fields["minimum"] = fields["maximum"] = None
    return Parameter(p.name, fields["flags"], fields["kind"], p.help, default=fields["default"], metavar=p.metavar,
                     minimum=fields["minimum"], maximum=fields["maximum"])


def _retyped(parameters: tuple[Parameter, ...], name: str, kind: str) -> tuple[Parameter, ...]:
    return tuple(_copy(p, kind=kind) if p.name == name else p for p in parameters)


def _changed(parameters: tuple[Parameter, ...], name: str, **changes: Any) -> tuple[Parameter, ...]:
    return tuple(_copy(p, **changes) if p.name == name else p for p in parameters)


@pytest.mark.parametrize(("command", "broken"), [
    pytest.param("generate", lambda ps: _swap_flags(ps, "style", "size"), id="style-and-size-swapped"),
    pytest.param("generate", lambda ps: _retyped(ps, "timeout", "text"), id="timeout-read-as-text"),
    pytest.param("generate", lambda ps: _retyped(ps, "n", "float"), id="count-read-as-float"),
    pytest.param("generate", lambda ps: _retyped(ps, "refs", "text"), id="ref-not-repeatable"),
    pytest.param("generate", lambda ps: tuple(p for p in ps if p.name != "dry_run"), id="dry-run-forgotten"),
    pytest.param("batch", lambda ps: _changed(ps, "concurrency", minimum=None), id="concurrency-floor-forgotten"),
    pytest.param("batch", lambda ps: _changed(ps, "concurrency", maximum=None), id="concurrency-ceiling-forgotten"),
    pytest.param("batch", lambda ps: _changed(ps, "manifest", default=None), id="manifest-not-required"),
    pytest.param("batch", lambda ps: _changed(ps, "rate_limit", default=6), id="rate-limit-default-wrong"),
    pytest.param("batch", lambda ps: _swap_flags(ps, "resubmit_failed", "new_images"), id="pay-again-flags-swapped"),
])
def test_the_comparison_catches_a_quick_reader_that_reads_the_table_wrongly(
    click_reading: ClickReading, command: str, broken: Callable[[tuple[Parameter, ...]], tuple[Parameter, ...]],
) -> None:
    wrong = broken(quick_line.parameters_of(command))
    assert first_disagreement(command, _lines(600, seed=16, command=command), click_reading, wrong) is not None


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
    ["batch", "m.jsonl", "--dry-run", "--json"],
    ["batch", "m.jsonl", "--json"],  # no --yes and no terminal: nothing spent
    ["batch", "bad.jsonl", "--yes", "--json"],
    ["batch", "missing.jsonl", "--yes"],
    ["batch", "m.jsonl", "--format", "xml", "--yes", "--json"],
    ["batch", "m.jsonl", "--concurrency", "8", "--rate-limit", "0", "--max-credits", "0", "--dry-run"],
])
def test_refusals_and_dry_runs_say_the_same_either_way(
    run: Callable[..., Run], sandbox: Any, logged_in: str, args: list[str], tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (tmp_path / "m.jsonl").write_text('{"prompt": "a fox", "name": "fox"}\n{"prompt": "a hare"}\n')
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a fox"}\n{"prompt": "a fox", "size": "7x7"}\nnot json\n')
    assert quick_line.read_line(_hoist_global_options(args), args[0]) is not None  # this line takes the quick way
    quick = run(*args)
    with monkeypatch.context() as patched:
        patched.setattr(quick_line, "read_line", lambda args, command, parameters=None: None)
        typer = run(*args)
    assert (quick.code, quick.out, quick.err) == (typer.code, typer.out, typer.err)
    assert quick.code in (0, errors.EXIT_BAD_INPUT)
    assert sandbox.stats()["submits"] == 0


@pytest.mark.e2e
@pytest.mark.parametrize("extra", [[], ["-n1"]], ids=["quick", "typer"])
def test_a_closed_stdout_ends_quietly_with_exit_1_either_way(extra: list[str]) -> None:
    """Typer turns a broken stdout pipe into exit 1 and quiet streams; the quick way must too."""
    args = ["generate", "x", "--dry-run", "--json", *extra]
    assert (quick_line.read_line(_hoist_global_options(args), "generate") is not None) == (not extra)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "gptimg", *args], stdout=writer, stderr=subprocess.PIPE,
                              timeout=60)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (1, b"")
