"""Where gptimg keeps its own data (the journal): ``GPTIMG_HOME``, else the platform's data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("GPTIMG_HOME", "").strip()
    if override:
        return Path(override).expanduser()
    try:
        from platformdirs import user_data_dir
    except ModuleNotFoundError:
        return platform_data_dir()
    return Path(user_data_dir("gptimg", appauthor=False))


def platform_data_dir() -> Path:
    """platformdirs' ``user_data_dir("gptimg", appauthor=False)`` for the exported skill.

    The skill runs on a bare ``python3 -I -S`` with no site-packages, yet must journal
    to the same folder as an installed gptimg, so ``gptimg jobs`` sees its submits.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "gptimg"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "gptimg"
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(base) / "gptimg"
