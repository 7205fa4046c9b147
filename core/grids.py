"""Turning generated samples into pictures: image grids and 2-D scatter plots, saved atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.rundir import atomic_write

SCATTER_SIZE = 256
SCATTER_EXTENT = {"ring8": 1.5, "grid25": 5.5}


def image_grid(samples: torch.Tensor, padding: int = 2, cols: int | None = None) -> np.ndarray:
    """N×C×H×W samples in [-1, 1] → one H×W×3 uint8 grid, `cols` wide or as square as possible."""
    x = samples.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h, w = x.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, 3), np.uint8)
    arr = x.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = arr[i]
    return grid


def scatter_plot(points: torch.Tensor, modes: torch.Tensor | None, extent: float) -> np.ndarray:
    """2-D points as white dots on black, with the mixture's modes as red crosses."""
    img = np.zeros((SCATTER_SIZE, SCATTER_SIZE, 3), np.uint8)

    def to_pixels(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        px = ((xy[:, 0] + extent) / (2 * extent) * (SCATTER_SIZE - 1)).round().astype(int)
        py = ((extent - xy[:, 1]) / (2 * extent) * (SCATTER_SIZE - 1)).round().astype(int)
        keep = (px >= 0) & (px < SCATTER_SIZE) & (py >= 0) & (py < SCATTER_SIZE)
        return px[keep], py[keep]

    if modes is not None:
        mx, my = to_pixels(modes.numpy())
        for d in range(-3, 4):
            img[my, np.clip(mx + d, 0, SCATTER_SIZE - 1)] = (200, 40, 40)
            img[np.clip(my + d, 0, SCATTER_SIZE - 1), mx] = (200, 40, 40)
    pts = points.detach().float().cpu().numpy()
    pts = pts[np.isfinite(pts).all(1)]
    px, py = to_pixels(pts)
    img[py, px] = (255, 255, 255)
    return img


def samples_picture(samples: torch.Tensor, dataset: str, cols: int | None = None) -> np.ndarray:
    """The picture of a batch of samples: a grid for images (`cols` wide or square), a scatter
    for 2-D toy points."""
    if samples.dim() == 2:
        from core.data import toy_modes

        modes, _ = toy_modes(dataset) if dataset in SCATTER_EXTENT else (None, 0.0)
        return scatter_plot(samples, modes, SCATTER_EXTENT.get(dataset, 3.0))
    return image_grid(samples, cols=cols)


def save_png(picture: np.ndarray, path: str | Path) -> Path:
    """Write an H×W×3 uint8 array as PNG, atomically (readers never see a half image)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())
    return path
