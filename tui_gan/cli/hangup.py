"""When the terminal of a TUI training goes away (SIGHUP), keep training without a screen.

Textual installs no SIGHUP handler, so by default a dropped SSH link kills the process and the
training with it; and once the pty is gone every write to it fails with EIO, which would kill
Textual's output thread and leave the app blocked on a full write queue. `HangupGuard` turns the
hangup into: standard streams to /dev/null at once, the app asked to exit (the trainer thread is
not touched), then `keep_training()` logs to RUN_DIR/train.log until the run ends, while the
control socket keeps serving `tui-gan watch`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from tui_gan.app.session import InProcessSession
from tui_gan.cli.headless import log_lines, train_to_end

LOG_NAME = "train.log"


class _TolerantStream:
    """A text stream whose writes to a vanished terminal are dropped instead of raising EIO."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self.broken = False

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except (OSError, ValueError):
            self.broken = True
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except (OSError, ValueError):
            self.broken = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def hangup_safe_driver(driver_class: type) -> type:
    """`driver_class` with its terminal output wrapped by _TolerantStream (only Textual's Linux
    driver writes to the terminal through `_file`; other drivers are returned unchanged)."""
    from textual.drivers.linux_driver import LinuxDriver

    if not (isinstance(driver_class, type) and issubclass(driver_class, LinuxDriver)):
        return driver_class

    # A base known only at run time is Any to mypy, which refuses to subclass Any.
    class HangupSafeDriver(driver_class):  # type: ignore[misc]
        _file: Any  # LinuxDriver's terminal stream, wrapped below

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = _TolerantStream(self._file)

    return HangupSafeDriver


def _redirect_std_fds(path: str, append: bool = False) -> None:
    """Point file descriptors 0 (from /dev/null), 1 and 2 at `path`; the old terminal is let go."""
    null_in = os.open(os.devnull, os.O_RDONLY)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0), 0o644)
    try:
        os.dup2(null_in, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
    finally:
        os.close(null_in)
        os.close(out)


class HangupGuard:
    """Around `app.run()`: on SIGHUP, silence the terminal and make the app exit, leaving the run."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hung_up = threading.Event()
        self._done = threading.Event()
        self._previous: Any = None
        app.driver_class = hangup_safe_driver(app.driver_class)

    def __enter__(self) -> HangupGuard:
        try:
            self._previous = signal.signal(signal.SIGHUP, self._on_hangup)
        except ValueError:  # not the main thread (an embedding host): it owns signal handling
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._previous is None:
            return
        # Stay deaf to further hangups: after one the process lives on without a terminal.
        signal.signal(signal.SIGHUP, signal.SIG_IGN if self.hung_up.is_set() else self._previous)

    def _on_hangup(self, signum: int, frame: object) -> None:
        if self.hung_up.is_set():
            return
        self.hung_up.set()
        try:
            _redirect_std_fds(os.devnull)  # the app's last frames and restore codes go nowhere
        except OSError:
            pass
        # call_from_thread waits for the app's loop, so ask from a helper thread, never from here.
        threading.Thread(target=self._exit_app, name="tui-gan-hangup", daemon=True).start()

    def _exit_app(self) -> None:
        while not self._done.is_set():
            try:
                self.app.call_from_thread(self.app.exit, 0)
                return
            except RuntimeError:  # the app is not running yet (or any more)
                time.sleep(0.1)


def keep_training(session: InProcessSession, run_dir: Path) -> int:
    """After a hangup: log to RUN_DIR/train.log until the in-process run ends; its exit code."""
    log_path = Path(run_dir) / LOG_NAME
    try:
        _redirect_std_fds(str(log_path), append=True)
    except OSError:
        pass
    out = open(log_path, "a", encoding="utf-8", buffering=1)  # stdout until the process exits
    sys.stdout = sys.stderr = out
    print(
        f"terminal closed (SIGHUP) in state {session.state}: training goes on without a screen; "
        f"attach with `tui-gan watch {Path(run_dir).resolve()}`",
        file=out,
        flush=True,
    )
    # The hangup may have come before the app's first frame started the run: train_to_end starts it.
    return train_to_end(session, out, report=log_lines)
