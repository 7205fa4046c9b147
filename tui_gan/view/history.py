"""The metric history of a run: numpy columns grown by doubling, fast at millions of steps."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

COLUMNS = ("step", "loss_d", "loss_g", "d_x", "d_g_z")


class MetricHistory:
    """Per-step metrics kept as one float64 array per column; appends are amortised O(1)."""

    def __init__(self, capacity: int = 1024, columns: tuple[str, ...] = COLUMNS) -> None:
        self.columns = tuple(columns)
        self._data = np.empty((len(self.columns), max(capacity, 16)), np.float64)
        self._n = 0
        self.version = 0  # bumped on every change, so views redraw only when it moved

    def __len__(self) -> int:
        return self._n

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        capacity = self._data.shape[1]
        if need <= capacity:
            return
        while capacity < need:
            capacity *= 2
        grown = np.empty((len(self.columns), capacity), np.float64)
        grown[:, : self._n] = self._data[:, : self._n]
        self._data = grown

    def extend(self, rows: np.ndarray) -> None:
        """Append an (n, len(columns)) array of rows in column order."""
        rows = np.asarray(rows, np.float64).reshape(-1, len(self.columns))
        if not len(rows):
            return
        self._reserve(len(rows))
        self._data[:, self._n : self._n + len(rows)] = rows.T
        self._n += len(rows)
        self.version += 1

    def extend_events(self, events: Iterable[object]) -> None:
        """Append StepMetrics-like objects (anything with the COLUMNS as attributes)."""
        rows = [(e.step, e.loss_d, e.loss_g, e.d_x, e.d_g_z) for e in events]  # type: ignore[attr-defined]
        if rows:
            self.extend(np.array(rows, np.float64))

    def append(self, row: dict[str, float]) -> None:
        """Append one row given by name; a new name becomes a column (NaN in the earlier rows), a missing one NaN."""
        for name in row:
            if name not in self.columns:
                self.columns += (name,)
                self._data = np.vstack([self._data, np.full((1, self._data.shape[1]), np.nan)])
        self.extend(np.array([float(row.get(name, np.nan)) for name in self.columns], np.float64))

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column (no copy)."""
        view = self._data[self.columns.index(name), : self._n]
        view.flags.writeable = False
        return view

    def since_step(self, first_step: float) -> slice:
        """The index range of rows whose step is at least `first_step` (steps only grow)."""
        start = int(np.searchsorted(self.column("step"), first_step, side="left"))
        return slice(start, self._n)

    def drop_after(self, step: float) -> None:
        """Forget the rows past `step`: a run resumed there trains those steps again (steps only grow)."""
        keep = int(np.searchsorted(self.column("step"), step, side="right"))
        if keep < self._n:
            self._n = keep
            self.version += 1

    def clear(self) -> None:
        self._n = 0
        self.version += 1
