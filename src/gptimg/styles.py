"""The 20 style presets gpt-image-2 accepts, and suggestions for a mistyped one.

Kept import-free so the agent CLI, the sandbox and the human CLI share one copy
without paying for each other's dependencies. The tool's other facts (slugs,
sizes, limits, price) live in :mod:`gptimg.image_tool`.
"""

from __future__ import annotations

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
