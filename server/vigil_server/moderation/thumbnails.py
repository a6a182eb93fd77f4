"""Evidence pictures: a small JPEG of the frame an alert is about."""

from __future__ import annotations

import io

import numpy as np

THUMBNAIL_HEIGHT = 144


def jpeg_thumbnail(frame: np.ndarray, aspect: float) -> bytes:
    """A small JPEG of a decoded frame, its display aspect restored when known."""
    from PIL import Image

    width = max(16, round(THUMBNAIL_HEIGHT * (aspect if aspect > 0 else frame.shape[1] / frame.shape[0])))
    size = (min(width, 4 * THUMBNAIL_HEIGHT), THUMBNAIL_HEIGHT)
    image = Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
