"""The run's writer: the one place a run writes its directory (lock, events, status, config, samples,
checkpoints, traceback). On ranks other than 0 it writes nothing."""

from __future__ import annotations

import errno
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.checkpoints import prune_checkpoints, remove_stale_temps, save_checkpoint
from core.config import TrainConfig
from core.errors import UserError
from core.events import Alert, Event
from core.grids import save_png
from core.rundir import EventLog, RunDir, RunLock, atomic_write, write_status

TRACEBACK_FILE = "traceback.txt"
MAX_BACKLOG = 100_000  # events kept while the log cannot be written (a paused run adds few)


class WriteFailed(UserError):
    """A file of the run could not be written; `path` names it, `errno` says why (ENOSPC: disk full)."""

    def __init__(self, path: Path, exc: OSError) -> None:
        self.path = path
        self.errno = exc.errno if exc.errno is not None else errno.EIO
        self.reason = exc.strerror or str(exc)
        super().__init__(f"{path}: {self.reason}")

    @property
    def disk_full(self) -> bool:
        """Whether the write failed for lack of space (the run could wait for room)."""
        return self.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class RunWriter:
    """Writes one run directory, or nothing at all when `rank` is not 0.

    Every write either succeeds or raises WriteFailed naming the file; a method of a writer that
    writes nothing returns None where it would return a path.
    """

    def __init__(self, run_dir: RunDir, rank: int = 0) -> None:
        self.run_dir = run_dir
        self.enabled = rank == 0  # under torchrun rank 0 alone keeps the record
        self._lock = RunLock(run_dir.path)
        self._locked = False
        self._log: EventLog | None = None
        self._created = False
        self._backlog: deque[Event] = deque()  # events not yet in the log, oldest first
        self._lost = 0  # events beyond MAX_BACKLOG, dropped
        self.checkpoint_size = 0  # bytes of the newest checkpoint written (0: none yet)

    @property
    def ready(self) -> bool:
        """Whether events can be taken: the directory is open, or this writer writes nothing."""
        return self._log is not None or not self.enabled

    def open(self) -> None:
        """Create and lock the run directory and open its event log; RunDirError when it cannot."""
        if not self.enabled:
            return
        self._created = not self.run_dir.path.exists()
        self.run_dir.create()
        self._lock.acquire()
        self._locked = True
        remove_stale_temps(self.run_dir.path)  # left by a writer that was killed mid-checkpoint
        self._log = EventLog(self.run_dir.events)

    def close(self, keep: bool = True) -> None:
        """Close the log (after a last try to write its backlog) and release the lock; without `keep`,
        remove a directory this writer created (a run that failed before training), unless a
        traceback was saved there."""
        if self._log is not None:
            try:
                self.flush()
            except WriteFailed:
                pass  # the caller knows from `backlog`
            self._log.close()
            self._log = None
        if self._locked:
            self._lock.release()
            self._locked = False
        if not keep and self._created and not (self.run_dir.path / TRACEBACK_FILE).exists():
            shutil.rmtree(self.run_dir.path, ignore_errors=True)

    # -- writes --------------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        """Append `event` to events.jsonl. When the log cannot be written the event is kept, with
        every later one, until `flush` succeeds; only the first failure raises WriteFailed."""
        if self._log is None:
            return
        if len(self._backlog) >= MAX_BACKLOG:
            self._lost += 1
            return
        self._backlog.append(event)
        if len(self._backlog) == 1:
            self.flush()

    @property
    def backlog(self) -> int:
        """Events waiting to be written."""
        return len(self._backlog) + self._lost

    def flush(self) -> None:
        """Write the events kept while the log could not be written, in order; WriteFailed if it
        still cannot (the events not written stay kept)."""
        if self._log is None:
            return
        if self._lost and len(self._backlog) < MAX_BACKLOG:
            step = getattr(self._backlog[-1], "step", 0) if self._backlog else 0
            self._backlog.append(
                Alert(
                    "warning", f"{self._lost} events lost while the log could not be written", step
                )
            )
            self._lost = 0
        try:
            while self._backlog:
                self._log.write(self._backlog[0])
                self._backlog.popleft()
        except OSError as exc:
            raise WriteFailed(self.run_dir.events, exc) from None

    def status(
        self,
        state: str,
        step: int,
        epoch: int,
        error: str | None,
        fault: WriteFailed | None,
        losses: dict[str, float],
    ) -> None:
        """Rewrite status.json for readers that do not follow the event log: the run's `state`,
        its `error`, a `fault` that keeps files unwritten, and events waiting in memory."""
        extra: dict[str, Any] = {"error": error} if error else {}
        if fault is not None or self.backlog:
            extra.update(
                write_error=str(fault or "events not written"), events_not_written=self.backlog
            )
        if self.enabled:
            self._guard(
                self.run_dir.status,
                lambda: write_status(self.run_dir.path, state, step, epoch, **extra, **losses),
            )

    def config(self, config: TrainConfig) -> None:
        """Rewrite config.toml."""
        if self.enabled:
            self._guard(
                self.run_dir.config,
                lambda: atomic_write(self.run_dir.config, config.to_toml().encode()),
            )

    def samples(self, step: int, draw: Callable[[], np.ndarray]) -> Path | None:
        """Save the picture `draw` makes as samples/step_N.png (drawn only where it is written)."""
        if not self.enabled:
            return None
        path = self.run_dir.samples / f"step_{step:08d}.png"
        self._guard(path, lambda: save_png(draw(), path))
        return path

    def checkpoint(self, payload: Callable[[], dict[str, Any]], reason: str) -> Path | None:
        """Write a checkpoint of `payload()` (built only where it is written) atomically."""
        if not self.enabled:
            return None
        folder = self.run_dir.checkpoints
        try:
            path = save_checkpoint(self.run_dir.path, payload(), reason)
        except OSError as exc:
            raise WriteFailed(Path(exc.filename) if exc.filename else folder, exc) from None
        self.checkpoint_size = path.stat().st_size
        return path

    def prune(self, keep: int) -> list[Path]:
        """Remove periodic checkpoints beyond the newest `keep`; the removed paths."""
        if not self.enabled:
            return []
        return list(prune_checkpoints(self.run_dir.path, keep))

    def traceback(self, text: str) -> Path | None:
        """Keep a bug's traceback in the run directory (printing it would garble the app's screen)."""
        if not self.enabled:
            return None
        path = self.run_dir.path / TRACEBACK_FILE
        self._guard(path, lambda: path.write_text(text, encoding="utf-8"))
        return path

    @staticmethod
    def _guard(path: Path, write: Callable[[], object]) -> None:
        try:
            write()
        except OSError as exc:
            raise WriteFailed(path, exc) from None
