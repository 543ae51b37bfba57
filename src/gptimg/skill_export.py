"""``gptimg skill export DIR``: a complete, self-contained ``gpt-image2`` skill folder.

Agents install a skill by copying a folder, then run ``python3 bin/uno.py …`` with
whatever Python is there: often no site-packages at all. So the export carries
the agent path's own modules as readable source beside ``bin/uno.py`` (a reviewer
reads what runs; nothing is zipped or downloaded at run time), chosen by following
the imports of ``gptimg.unocli`` rather than by a hand-kept list that would rot.
``MANIFEST.json`` records the gptimg version and a SHA-256 of every file.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from pathlib import Path

from gptimg import __version__, errors

PACKAGE_DIR = Path(__file__).resolve().parent
SKILL_SOURCE = PACKAGE_DIR / "skill"
SKILL_NAME = "gpt-image2"
MANIFEST = "MANIFEST.json"
#: Where the agent CLI starts; every gptimg module they import (at any depth, even lazily) goes along.
ROOT_MODULES = ("gptimg.unocli", "gptimg.unocli.__main__")


def module_file(name: str) -> Path | None:
    """The source file of a ``gptimg`` module or package, or None when there is none."""
    relative = Path(*name.split("."))
    package = PACKAGE_DIR.parent / relative / "__init__.py"
    if package.is_file():
        return package
    module = (PACKAGE_DIR.parent / relative).with_suffix(".py")
    return module if module.is_file() else None


def _imported_names(path: Path, module: str) -> set[str]:
    """Every ``gptimg…`` module named by an import statement anywhere in ``path`` (with parents)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import module``
    found = set()
    for name in names:
        if name.split(".")[0] != "gptimg":
            continue
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def agent_modules() -> dict[str, Path]:
    """The import closure of the agent CLI within gptimg: module name -> source file."""
    pending = list(ROOT_MODULES)
    files: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        if name in files:
            continue
        path = module_file(name)
        if path is None:
            continue  # ``from gptimg.x import SomeName``: a name, not a module
        files[name] = path
        pending.extend(_imported_names(path, name) - files.keys())
    return files


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_skill(target: Path, *, force: bool = False) -> dict[str, object]:
    """Write the skill folder at ``target``; returns what the manifest says."""
    target = Path(target).expanduser()
    if target.exists() and any(target.iterdir()) and not force:
        raise errors.BadInput(
            f"{target} exists and is not empty; nothing was written.",
            hint="Pick a new folder, or add --force to replace its skill files.",
        )
    bin_dir = target / "bin"
    if force and (bin_dir / "gptimg").exists():
        shutil.rmtree(bin_dir / "gptimg")  # no stale module from an older export may linger
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SKILL_SOURCE / "SKILL.md", target / "SKILL.md")
    (target / "references").mkdir(exist_ok=True)
    for page in sorted((SKILL_SOURCE / "references").glob("*.md")):
        shutil.copyfile(page, target / "references" / page.name)
    shutil.copyfile(SKILL_SOURCE / "uno.py", bin_dir / "uno.py")
    (bin_dir / "uno.py").chmod(0o755)
    src_root = PACKAGE_DIR.parent
    for path in agent_modules().values():
        destination = bin_dir / path.relative_to(src_root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    files = sorted(p for p in target.rglob("*") if p.is_file() and p.name != MANIFEST and "__pycache__" not in p.parts)
    manifest = {
        "name": SKILL_NAME,
        "gptimg_version": __version__,
        "python": ">=3.9, standard library only (python3 -I -S bin/uno.py …)",
        "files": {p.relative_to(target).as_posix(): "sha256:" + _hash(p) for p in files},
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def verify_skill(target: Path) -> list[str]:
    """Files whose hash no longer matches the manifest, or that are missing (empty: intact)."""
    manifest = json.loads((Path(target) / MANIFEST).read_text(encoding="utf-8"))
    problems = []
    for name, digest in manifest["files"].items():
        path = Path(target) / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif "sha256:" + _hash(path) != digest:
            problems.append(f"changed: {name}")
    return problems
