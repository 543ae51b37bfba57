#!/usr/bin/env python3
"""uno-cli compatible agent CLI for gpt-image-2 (gptimg). Prints one JSON document.

Runs from a checkout: ``python bin/uno.py call gpt-image-2.gpt_image2_submit --args '{…}'``.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from gptimg.unocli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
