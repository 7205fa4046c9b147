"""A session on a run read from its events.jsonl and followed as it grows: finished and crashed runs,
and live ones without a control socket. It takes no commands."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from core import commands as cmd
from core import events as ev
from core.rundir import CRASHED, EVENTS_FILE, lock_held
from tui_gan.app.session import Session

# Bytes read per call of events(): a long log is replayed over several polls, never in one long stall
# of the UI (about 5,000 step events a megabyte).
CHUNK_BYTES = 1 << 20
# How often to ask the run's lock whether its trainer is still alive.
ALIVE_CHECK_S = 1.0


class LogSession(Session):
    """Events of `RUN_DIR/events.jsonl` from its first line on, then as they are appended."""

    def __init__(self, run_dir: str | os.PathLike[str], chunk: int = CHUNK_BYTES) -> None:
        self.run_dir = Path(run_dir)
        self._path = self.run_dir / EVENTS_FILE
        self._chunk = chunk
        self._fd: int | None = None
        self._partial = b""
        self._state = ""
        self._error: str | None = None
        self.caught_up = False  # read to the end of the log at least once
        self._alive = False
        self._alive_at = -ALIVE_CHECK_S

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                # non-blocking: a FIFO in place of the log is refused, never waited on
                fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                return None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                return None
            self._fd = fd
        return self._fd

    def events(self) -> list[ev.Event]:
        """The events of the whole lines appended since the last call (at most `chunk` bytes)."""
        fd = self._open()
        if fd is None:
            self.caught_up = True
            return []
        try:
            data = os.read(fd, self._chunk)
        except OSError:
            return []
        self.caught_up = len(data) < self._chunk
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        out: list[ev.Event] = []
        for line in data[:end].splitlines():
            try:
                event = ev.from_json(json.loads(line))
            except (ValueError, TypeError, RecursionError):
                continue  # a line torn by a crash, or of a kind this version does not know
            if isinstance(event, ev.StateChanged):
                self._state = event.state
            elif isinstance(event, ev.RunFailed):
                self._error = event.message
            out.append(event)
        return out

    def send(self, command: cmd.Command) -> None:
        """Refused: a run followed from its log cannot be steered (`tui-gan watch` attaches)."""
        raise RuntimeError(f"{self.run_dir}: followed from its log; it takes no commands")

    @property
    def alive(self) -> bool:
        """Whether a trainer holds the run (asked of its lock at most once a second)."""
        now = time.monotonic()
        if now - self._alive_at >= ALIVE_CHECK_S:
            self._alive, self._alive_at = lock_held(self.run_dir), now
        return self._alive

    @property
    def state(self) -> str:
        """The last state the log records; `crashed` when it is not final and no trainer holds the run."""
        if self._state in ev.FINAL_STATES:
            return self._state
        if self.caught_up and not self.alive:
            return CRASHED
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    def close(self, timeout: float | None = None) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
