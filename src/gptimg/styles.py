"""The gpt-image-2 tool's fixed vocabulary: style presets, sizes, image counts, prices.

Kept import-free so the agent CLI, the sandbox and the human CLI share one copy
of the facts without paying for each other's dependencies.
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

#: The 20 presets: key -> short description in our own words.
STYLES: dict[str, str] = {
    "ghibli_anime": "Hand-drawn anime in the manner of Studio Ghibli",
    "pixar_3d": "Polished 3D animated-feature look (Pixar, Disney)",
    "claymation": "Stop-motion clay figures (Laika, Aardman)",
    "lego_brick": "Built from LEGO bricks",
    "popmart_figurine": "Glossy blind-box collectible figurine (Pop Mart)",
    "isometric_game": "Isometric 2.5D game scene",
    "cinematic_photo": "Cinematic 35mm photograph",
    "polaroid_film": "Instant-film Polaroid snapshot",
    "watercolor_ink": "Watercolour and East-Asian ink wash",
    "oil_painting_vangogh": "Thick impasto oil paint after Van Gogh",
    "cyberpunk_neon": "Neon-lit cyberpunk night",
    "vintage_infographic": "Retro infographic or data poster",
    "movie_poster": "Film poster with a big title over a still",
    "flat_vector": "Flat vector illustration or banner",
    "pixel_8bit": "8/16-bit pixel art",
    "papercraft_layered": "Layered cut-paper craft",
    "exploded_diagram": "Exploded technical diagram",
    "dreamcore_liminal": "Dreamcore, liminal spaces",
    "knolling_flatlay": "Top-down knolling flat-lay",
    "botanical_engraving": "Antique botanical engraving",
}


def suggest_styles(unknown: str, limit: int = 3) -> list[str]:
    """Closest preset keys to a mistyped one (difflib is cheap enough to import here)."""
    import difflib

    needle = unknown.strip().lower().replace("-", "_").replace(" ", "_")
    matches = difflib.get_close_matches(needle, list(STYLES), n=limit, cutoff=0.5)
    if not matches:
        matches = [key for key in STYLES if needle and (needle in key or key.split("_")[0] in needle)][:limit]
    return matches
