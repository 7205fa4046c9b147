"""A run's event sinks: called in order on the training thread; one that raises is dropped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

E = TypeVar("E")


class Subscribers(Generic[E]):
    """Thread-safe list of callbacks; `publish` never lets a broken sink stop the caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sinks: list[Callable[[E], None]] = []

    def add(self, callback: Callable[[E], None]) -> Callable[[], None]:
        """Register `callback`; returns a function that removes it."""
        with self._lock:
            self._sinks.append(callback)
        return lambda: self._remove(callback)

    def _remove(self, callback: Callable[[E], None]) -> None:
        with self._lock:
            if callback in self._sinks:
                self._sinks.remove(callback)

    def publish(self, event: E) -> list[Exception]:
        """Call every sink with `event`; the errors of the sinks that raised (and were removed)."""
        with self._lock:
            sinks = list(self._sinks)
        errors = []
        for callback in sinks:
            try:
                callback(event)
            except Exception as exc:
                self._remove(callback)
                errors.append(exc)
        return errors
