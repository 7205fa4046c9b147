"""Pictures in a terminal with half-block characters: two pixel rows per text row (works over SSH)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "▀"


def fit_size(image_w: int, image_h: int, cols: int, rows: int) -> tuple[int, int]:
    """The largest pixel size with the image's aspect that fits in cols × (2·rows) pixels."""
    if image_w <= 0 or image_h <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    scale = min(cols / image_w, 2 * rows / image_h)
    return max(1, round(image_w * scale)), max(1, round(image_h * scale))


def halfblock_lines(image: Image.Image, cols: int, rows: int) -> list[list[Segment]]:
    """`image` scaled to fit cols × rows cells, one list of segments per text row."""
    w, h = fit_size(image.width, image.height, cols, rows)
    if not w:
        return []
    small = image.convert("RGB").resize((w, h + (h % 2)), Image.Resampling.BOX)
    pixels = np.asarray(small)
    styles: dict[tuple[int, ...], Style] = {}
    lines = []
    for y in range(0, pixels.shape[0], 2):
        top, bottom = pixels[y], pixels[y + 1]
        line = []
        for x in range(w):
            key = (*top[x].tolist(), *bottom[x].tolist())
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(
                    color=Color.from_rgb(*key[:3]), bgcolor=Color.from_rgb(*key[3:])
                )
            line.append(Segment(UPPER_HALF, style))
        lines.append(line)
    return lines
