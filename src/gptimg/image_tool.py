"""The gpt-image-2 tool's fixed facts: slugs, sizes, image counts, limits, price, timing.

Kept import-free so the agent CLI, the sandbox and the human CLI share one copy
of the facts without paying for each other's dependencies. The style presets
live beside them in :mod:`gptimg.styles`.
"""

from __future__ import annotations

SUBMIT_TOOL = "gpt-image-2.gpt_image2_submit"
RESULT_TOOL = "gpt-image-2.gpt_image2_result"

#: Price of one submit when the catalogue cannot be read (credits).
DEFAULT_SUBMIT_COST = 300
#: The model's usual time for one image, used until the gateway says otherwise.
DEFAULT_ESTIMATED_SECONDS = 150
#: Longest server-side hold the result tool accepts.
MAX_WAIT_SECONDS = 50

SIZES: tuple[str, ...] = ("1024x1024", "1024x1536", "1536x1024", "auto")
DEFAULT_SIZE = "1024x1024"
MIN_IMAGES = 1
MAX_IMAGES = 4

#: Serialised ``arguments`` may be at most this long (the gateway's limit).
MAX_ARGUMENTS_CHARS = 100 * 1024
#: A prompt longer than this cannot fit in the arguments limit with room to spare.
MAX_PROMPT_CHARS = 32_000
