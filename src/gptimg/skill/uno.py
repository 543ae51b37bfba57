#!/usr/bin/env python3
"""uno-cli compatible agent CLI for gpt-image-2 (gptimg). Prints one JSON document.

The same file runs in two layouts:
- a checkout: ``bin/uno.py`` beside ``src/gptimg``;
- an exported skill folder (``gptimg skill export DIR``): ``DIR/bin/uno.py`` beside
  ``DIR/bin/gptimg``, the agent path's modules as readable source. It needs only a bare
  ``python3`` (3.9+): ``python3 -I -S DIR/bin/uno.py whoami``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SKILL_LAYOUT = os.path.isdir(os.path.join(HERE, "gptimg"))
sys.path.insert(0, HERE if SKILL_LAYOUT else os.path.join(os.path.dirname(HERE), "src"))
if SKILL_LAYOUT:
    # The gateway attributes calls to the skill that made them, as uno-cli does with UNO_CALLER_SKILL.
    os.environ.setdefault("UNO_CALLER_SKILL", "gpt-image2")


def _incomplete(missing: str) -> int:
    import json

    fix = (
        "Export the skill again (gptimg skill export DIR) or reinstall it."
        if SKILL_LAYOUT
        else "Run it from a gptimg checkout (bin/ beside src/), or install gptimg: python3 -m pip install gptimg"
    )
    message = f"This copy of bin/uno.py cannot load {missing!r}."
    print(json.dumps({"success": False, "error": "missing_dependencies", "message": message, "hint": fix}))
    return 2


if __name__ == "__main__":
    try:
        from gptimg.unocli import main
    except ImportError as exc:  # noqa: F841 - the folder beside this file is missing or broken
        sys.exit(_incomplete(getattr(exc, "name", None) or "gptimg"))
    sys.exit(main())
