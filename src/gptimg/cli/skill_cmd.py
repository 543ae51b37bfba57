"""``gptimg skill export DIR``: write the self-contained ``gpt-image2`` agent skill folder."""

from __future__ import annotations

import typer

from gptimg.cli.app import app, session

skill_app = typer.Typer(help="The agent skill folder (SKILL.md + bin/uno.py).", no_args_is_help=True)
app.add_typer(skill_app, name="skill")


@skill_app.command("export")
def export(
    directory: str = typer.Argument(..., metavar="DIR", help="Folder to write, e.g. ~/.claude/skills/gpt-image2"),
    force: bool = typer.Option(False, "--force", help="Replace the skill files in a folder that is not empty."),
) -> None:
    """Write SKILL.md, references/ and bin/uno.py (standard library only) with a manifest of hashes."""
    from pathlib import Path

    from gptimg.skill_export import export_skill

    target = Path(directory).expanduser().resolve()
    manifest = export_skill(target, force=force)
    data = {"path": str(target), "gptimg_version": manifest["gptimg_version"], "files": len(manifest["files"])}

    def human() -> None:
        from rich.markup import escape

        session.output.out.print(f"Skill written to [bold]{escape(str(target))}[/] ({data['files']} files).")
        session.output.out.print(f"Try it: python3 -I -S {escape(str(target / 'bin' / 'uno.py'))} whoami --compact")

    session.output.success(data, human=human)
