"""A session on a run read from its events.jsonl and followed as it grows: finished and crashed runs,
and live ones without a control socket. It takes no commands."""

from __future__ import annotations

import collections
import json
import os
import stat
import threading
import time
from pathlib import Path

from core import commands as cmd
from core import events as ev
from core.rundir import CRASHED, EVENTS_FILE, lock_held
from tui_gan.app.session import Session

# Bytes read at a time; parsing them takes the reader thread a fraction of a second on a slow CPU.
CHUNK_BYTES = 1 << 20
# Events read but not yet taken beyond which the reader waits: a long log is never all in memory twice.
MAX_PENDING = 20_000
# How often the reader looks for new lines once at the end of the log, and asks the lock if the
# trainer is alive.
FOLLOW_INTERVAL_S = 0.25
ALIVE_CHECK_S = 1.0


class LogSession(Session):
    """Events of `RUN_DIR/events.jsonl` from its first line on, then as they are appended.

    A thread reads and parses the log (a long one takes seconds), so the UI only folds events in.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        chunk: int = CHUNK_BYTES,
        follow_interval: float = FOLLOW_INTERVAL_S,
    ) -> None:
        self.run_dir = Path(run_dir)
        self._path = self.run_dir / EVENTS_FILE
        self._chunk = chunk
        self._interval = follow_interval
        self._fd: int | None = None
        self._partial = b""
        self._state = ""
        self._error: str | None = None
        self._alive = False
        self._alive_at = -ALIVE_CHECK_S
        self._lock = threading.Lock()
        self._items: collections.deque[ev.Event] = collections.deque()
        self._at_end = False
        self._taken = threading.Event()  # the UI took what was read: the reader may go on
        self._closed = threading.Event()
        self.caught_up = False  # everything up to the end of the log has been handed out
        self._reader = threading.Thread(target=self._follow, name="tui-gan-log", daemon=True)
        self._reader.start()

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

    def _follow(self) -> None:
        while not self._closed.is_set():
            events, at_end = self._read()
            with self._lock:
                self._items.extend(events)
                self._at_end = at_end
                full = len(self._items) >= MAX_PENDING
                self._taken.clear()
            if full:
                self._taken.wait()  # until the UI takes them, or close()
            elif at_end:
                self._closed.wait(self._interval)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read(self) -> tuple[list[ev.Event], bool]:
        """The events of the whole lines of the next chunk, and whether it reached the end."""
        fd = self._open()
        if fd is None:
            return [], True
        try:
            data = os.read(fd, self._chunk)
        except OSError:
            return [], True
        at_end = len(data) < self._chunk
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        out: list[ev.Event] = []
        for line in data[:end].splitlines():
            try:
                event = ev.from_json(json.loads(line))
            except (ValueError, TypeError, RecursionError):
                continue  # a line torn by a crash, or of a kind this version does not know
            out.append(event)
        return out, at_end

    def events(self) -> list[ev.Event]:
        """The events read since the last call, oldest first; never blocks on the disk."""
        with self._lock:
            out = list(self._items)
            self._items.clear()
            self.caught_up = self._at_end
            self._taken.set()
        # the state as of the events handed out, not as of what the reader has seen ahead
        for event in out:
            if isinstance(event, ev.StateChanged):
                self._state = event.state
            elif isinstance(event, ev.RunFailed):
                self._error = event.message
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
        """Stop following the log (the run itself goes on)."""
        self._closed.set()
        self._taken.set()
        self._reader.join(timeout)
