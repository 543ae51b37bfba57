"""Where gptimg keeps its own data (the journal): ``GPTIMG_HOME``, else the platform's data dir."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("GPTIMG_HOME", "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("gptimg", appauthor=False))
