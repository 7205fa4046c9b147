"""The sample history of a run: every saved grid with its step and epoch, and a cursor that steps
through them with one grid marked for comparison (no Textual here, so it is unit-tested)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# The trainer's names: samples/step_00001200.png (core.writer.RunWriter.samples).
GRID_NAME = re.compile(r"^step_(\d+)\.png$")


@dataclass(frozen=True)
class Grid:
    """One saved sample grid: the step it was drawn at, its epoch (None when unknown), its file."""

    step: int
    epoch: int | None
    path: str


def list_grids(
    samples_dir: str | Path, epochs: dict[int, int] | None = None, steps_per_epoch: int = 0
) -> list[Grid]:
    """The grids in `samples_dir`, oldest step first. The epoch is the one the run reported for that
    step (`epochs`, from its SamplesSaved events), else counted from `steps_per_epoch`, else None."""
    epochs = epochs or {}
    grids = []
    try:
        entries = list(os.scandir(samples_dir))
    except OSError:  # no samples/ yet, or a run directory that went away
        return []
    for entry in entries:
        match = GRID_NAME.match(entry.name)
        if not match:
            continue
        step = int(match.group(1))
        epoch = epochs.get(step)
        if epoch is None and steps_per_epoch > 0:
            # the epoch in progress, or the one that just ended (core.plan.shown_epoch; that module
            # brings torch, which the app must not need to watch a run)
            epoch = max(-(-step // steps_per_epoch), 1)
        grids.append(Grid(step, epoch, entry.path))
    return sorted(grids, key=lambda g: g.step)


class Scrubber:
    """A position in a list of grids and one marked grid, both kept by step across new listings."""

    def __init__(self) -> None:
        self.grids: list[Grid] = []
        self.index = 0
        self.marked_step: int | None = None

    def update(self, grids: list[Grid]) -> bool:
        """Take a new listing; True when what is shown changed. The cursor stays on its step, or
        follows new grids when it was on the newest (as a live view should)."""
        before = (self.current, self.marked, len(self.grids))
        at_end = not self.grids or self.index == len(self.grids) - 1
        step = self.current.step if self.current else None
        self.grids = list(grids)
        if at_end or step is None:
            self.index = max(len(self.grids) - 1, 0)
        else:
            self.index = self._index_of(step)
        if self.marked_step is not None and self.marked is None:
            self.marked_step = None  # its file is gone
        return before != (self.current, self.marked, len(self.grids))

    def _index_of(self, step: int) -> int:
        """The grid at `step`, or the nearest older one."""
        older = [i for i, g in enumerate(self.grids) if g.step <= step]
        return older[-1] if older else 0

    @property
    def current(self) -> Grid | None:
        return self.grids[self.index] if self.grids else None

    @property
    def marked(self) -> Grid | None:
        return next((g for g in self.grids if g.step == self.marked_step), None)

    def move(self, delta: int) -> None:
        if self.grids:
            self.index = min(max(self.index + delta, 0), len(self.grids) - 1)

    def first(self) -> None:
        self.index = 0

    def last(self) -> None:
        self.index = max(len(self.grids) - 1, 0)

    def toggle_mark(self) -> Grid | None:
        """Mark the current grid (or unmark it if it is the marked one); the marked grid after."""
        current = self.current
        if current is None:
            return None
        self.marked_step = None if self.marked_step == current.step else current.step
        return self.marked

    def bar(self, width: int) -> str:
        """A one-line scrubber `├──◆───●──┤`: ● the current grid, ◆ the marked one, in step order."""
        width = max(width, 3)
        inner = width - 2
        line = ["─"] * inner
        n = len(self.grids)
        if n:

            def column(i: int) -> int:
                return 0 if n == 1 else round(i * (inner - 1) / (n - 1))

            marked = self.marked
            if marked is not None:
                line[column(self.grids.index(marked))] = "◆"
            line[column(self.index)] = "●"
        return "├" + "".join(line) + "┤"


def describe(grid: Grid | None, index: int | None = None, count: int = 0) -> str:
    """`step 1,200 · epoch 16 · 7/30`, the caption of a grid."""
    if grid is None:
        return ""
    parts = [f"step {grid.step:,}"]
    if grid.epoch is not None:
        parts.append(f"epoch {grid.epoch:,}")
    if index is not None and count:
        parts.append(f"{index + 1}/{count}")
    return " · ".join(parts)
