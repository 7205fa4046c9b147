"""Sessions: how the app talks to a training run; this one in this process (remote.py: over a socket).

Every session has the same small interface, so every screen works the same on any run:
`events()` drains what arrived since the last call (never blocks), `send(command)` queues a
command, `state` and `error` say how the run stands, `close()` ends the session (stopping an
in-process run).
"""

from __future__ import annotations

import collections
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from core import commands as cmd
from core import events as ev

if TYPE_CHECKING:  # torch comes with it: `tui-gan watch` never needs it
    from core.trainer import Trainer

# Step events beyond this many unread are dropped oldest-first: a UI that falls behind skips
# metrics (events.jsonl keeps them all) but never holds up training or grows without bound.
MAX_PENDING_STEPS = 20_000


class Session(ABC):
    """One training run as the app sees it."""

    run_dir: Path

    @abstractmethod
    def events(self) -> list[ev.Event]:
        """Events that arrived since the last call, oldest first; never blocks."""

    @abstractmethod
    def send(self, command: cmd.Command) -> None:
        """Queue a command for the run; never blocks."""

    @abstractmethod
    def close(self, timeout: float | None = None) -> None:
        """End the session; an in-process run is stopped and waited for up to `timeout`."""

    def start(self) -> None:  # noqa: B027 - a no-op by design for sessions that own no run
        """Start the run this session owns, if it owns one and has not started it."""

    @property
    @abstractmethod
    def alive(self) -> bool:
        """Whether the run can still take commands."""

    @property
    @abstractmethod
    def state(self) -> str:
        """The run's last known state (`core.events` STARTING … FAILED)."""

    @property
    @abstractmethod
    def error(self) -> str | None:
        """Why the run failed, once it has; else None."""


class EventInbox:
    """Thread-safe buffer between the trainer thread (producer) and the UI (consumer)."""

    def __init__(self, max_steps: int = MAX_PENDING_STEPS) -> None:
        self._lock = threading.Lock()
        self._items: collections.deque[ev.Event] = collections.deque()
        self._steps = 0
        self._max_steps = max_steps

    def put(self, event: ev.Event) -> None:
        with self._lock:
            self._items.append(event)
            if isinstance(event, ev.StepMetrics):
                self._steps += 1
                if self._steps > self._max_steps:
                    self._drop_oldest_step()

    def _drop_oldest_step(self) -> None:
        for i, item in enumerate(self._items):
            if isinstance(item, ev.StepMetrics):
                del self._items[i]
                self._steps -= 1
                return

    def drain(self) -> list[ev.Event]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._steps = 0
        return items


class InProcessSession(Session):
    """A trainer running in a thread of this process."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.run_dir = trainer.run_dir.path
        self._inbox = EventInbox()
        self._started = False
        trainer.subscribe(self._inbox.put)

    def start(self) -> None:
        """Start the training thread; later calls do nothing."""
        if not self._started:
            self._started = True
            self.trainer.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` for the training thread; True once it has ended."""
        return self.trainer.join(timeout)

    def events(self) -> list[ev.Event]:
        return self._inbox.drain()

    def send(self, command: cmd.Command) -> None:
        self.trainer.send(command)

    @property
    def alive(self) -> bool:
        return self.trainer.state not in ev.FINAL_STATES

    @property
    def state(self) -> str:
        return self.trainer.state

    @property
    def error(self) -> str | None:
        return self.trainer.error

    def close(self, timeout: float | None = None) -> None:
        if self.alive:
            self.trainer.send(cmd.Stop(checkpoint=False, reason="app closed"))
        self.trainer.join(timeout)
