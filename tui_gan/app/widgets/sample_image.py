"""The latest fixed-noise sample grid, drawn with half-block characters."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui_gan.view.halfblock import halfblock_lines

# Below this many pixels per tile the digits are unreadable: show fewer tiles, larger.
MIN_TILE_PIXELS = 12


def crop_tiles(image: Image.Image, tile: int, padding: int, cols: int, rows: int) -> Image.Image:
    """The top-left tiles of a padded grid that fit cols × (2·rows) pixels at a readable size."""
    step = tile + padding
    per_side = (image.width - padding) // step
    if per_side < 2 or (image.width - padding) % step:
        return image
    fit = max(2, min(cols, 2 * rows) // MIN_TILE_PIXELS)
    if fit >= per_side:
        return image
    edge = padding + fit * step
    return image.crop((0, 0, edge, edge))


class SampleImage(Widget):
    """Shows a PNG; `show(path)` loads it (small files, UI thread) and redraws to fit the widget."""

    DEFAULT_CSS = """
    SampleImage { width: 1fr; height: 1fr; content-align: center middle; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.image: Image.Image | None = None
        self.path: str | None = None
        self.tile: int | None = None
        self.message = "no samples yet"
        self._lines: list[list[Segment]] = []
        self._laid_out: tuple[int, int] = (0, 0)

    def show(self, path: str | Path | None, tile: int | None = None, message: str = "") -> None:
        """Display the PNG at `path` (tiles of `tile` px with 2 px padding may be cropped to fit)."""
        self.path, self.tile = (str(path) if path else None), tile
        self.image = None
        self.message = message or "no samples yet"
        if path:
            try:
                with Image.open(path) as img:
                    self.image = img.convert("RGB")
            except (OSError, ValueError) as exc:
                self.message = f"cannot read {Path(path).name}: {exc}"
        self._laid_out = (0, 0)
        self.refresh()

    def _layout_lines(self) -> None:
        cols, rows = self.size.width, self.size.height
        if (cols, rows) == self._laid_out:
            return
        self._laid_out = (cols, rows)
        if self.image is None:
            self._lines = []
            return
        image = self.image
        if self.tile:
            image = crop_tiles(image, self.tile, 2, cols, rows)
        self._lines = halfblock_lines(image, cols, rows)

    def render_line(self, y: int) -> Strip:
        self._layout_lines()
        width = self.size.width
        if not self._lines:
            if y == self.size.height // 2:
                text = self.message[:width].center(width)
                return Strip([Segment(text, Style(dim=True))], width)
            return Strip.blank(width)
        top = (self.size.height - len(self._lines)) // 2
        index = y - top
        if not 0 <= index < len(self._lines):
            return Strip.blank(width)
        line = self._lines[index]
        left = (width - len(line)) // 2
        return Strip([Segment(" " * left), *line], len(line) + left).extend_cell_length(width)
