"""Rendered on-screen text for tests and bench/onscreen_text_eval.py: signs, banners and captions on pictures.

Fonts come from packages: Debian's fonts-dejavu-core (/usr/share/fonts/truetype/dejavu) and the font
that Pillow embeds (`ImageFont.load_default(size)`), so nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf",
              "DejaVuSansCondensed-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSans-Oblique.ttf")  # fmt: skip
PILLOW_FONT = "pillow-default"  # Pillow's embedded font


def font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font by file name under DEJAVU, or PILLOW_FONT."""
    if name == PILLOW_FONT:
        return ImageFont.load_default(size=size)
    path = DEJAVU / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: apt-get install fonts-dejavu-core")
    return ImageFont.truetype(str(path), size)


def fit_picture(picture: np.ndarray, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A picture scaled and centre-cropped to fill `size` (width, height)."""
    image = Image.fromarray(picture).convert("RGB")
    width, height = size
    scale = max(width / image.width, height / image.height)
    image = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))))
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return np.asarray(image.crop((left, top, left + width, top + height)))


@dataclass(frozen=True)
class Sign:
    text: str
    font: str = "DejaVuSans-Bold.ttf"
    size: int = 40  # pixels
    at: tuple[float, float] = (0.5, 0.75)  # centre of the text, fractions of the picture
    colour: tuple[int, int, int] = (255, 255, 255)
    banner: tuple[int, int, int] | None = (20, 20, 20)  # a box behind the text; None: an outline instead


def draw_signs(picture: np.ndarray, signs: list[Sign]) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """The picture with the signs drawn, and each sign's box (x, y, width, height as fractions)."""
    image = Image.fromarray(picture).convert("RGB")
    draw = ImageDraw.Draw(image)
    boxes = []
    for sign in signs:
        size = sign.size
        face = font(sign.font, size)
        left, top, right, bottom = draw.textbbox((0, 0), sign.text, font=face)
        while right - left > 0.9 * image.width and size > 10:  # smaller until it fits: a sign is never cut off
            size -= 2
            face = font(sign.font, size)
            left, top, right, bottom = draw.textbbox((0, 0), sign.text, font=face)
        width, height = right - left, bottom - top
        x = min(max(4, round(sign.at[0] * image.width - width / 2)), max(4, image.width - width - 4))
        y = min(max(4, round(sign.at[1] * image.height - height / 2)), max(4, image.height - height - 4))
        if sign.banner is not None:
            pad = max(4, size // 4)
            draw.rectangle((x - pad, y - pad, x + width + pad, y + height + pad), fill=sign.banner)
            draw.text((x - left, y - top), sign.text, font=face, fill=sign.colour)
        else:
            draw.text((x - left, y - top), sign.text, font=face, fill=sign.colour, stroke_width=max(1, size // 12),
                      stroke_fill=(0, 0, 0) if sum(sign.colour) > 380 else (255, 255, 255))  # fmt: skip
        boxes.append((x / image.width, y / image.height, width / image.width, height / image.height))
    return np.asarray(image), boxes
