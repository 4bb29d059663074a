"""The app's icon, drawn here so the browser never fetches one from outside (Material icons as a
page icon are loaded from Google's font servers)."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw


@lru_cache(maxsize=1)
def page_icon() -> Image.Image:
    """A 64 px Loopdesk mark: a violet rounded square with a white loop."""
    size = 64
    icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    draw.rounded_rectangle((2, 2, size - 3, size - 3), radius=14, fill=(94, 53, 177, 255))
    draw.arc((14, 14, size - 15, size - 15), start=40, end=330, fill=(255, 255, 255, 255), width=7)
    draw.polygon([(44, 14), (54, 26), (40, 28)], fill=(255, 255, 255, 255))
    return icon
