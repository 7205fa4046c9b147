"""Entry point of the app for the command line: `run_tui(trainer)` trains in the TUI."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from core import events as ev
from core.plugins import plugin_names
from core.trainer import Trainer
from tui_gan.app.app import GanApp
from tui_gan.app.session import InProcessSession, Session
from tui_gan.cli.hangup import HangupGuard, keep_training

CLOSE_TIMEOUT_S = 30.0


def open_in_process(checkpoint: str, named: Mapping[str, str] | None = None) -> Session:
    """An in-process session continuing from `checkpoint` (the browser's "resume"), not started: a
    resume that cannot start (nothing left to train, a bad checkpoint, a plug-in not in `named`)
    raises here, as on the command line."""
    return InProcessSession(Trainer.from_checkpoint(checkpoint, named=named))


def run_tui(trainer: Trainer) -> int:
    """Open the app on `trainer` (started once the first frame is drawn); returns the exit code."""
    session = InProcessSession(trainer)
    named = plugin_names(trainer.config)  # the plug-ins the user named: the browser may load them
    app = GanApp(
        session,
        start=session.start,
        open_session=lambda checkpoint: open_in_process(checkpoint, named),
        named=named,
    )
    guard = HangupGuard(app)  # a lost terminal (SIGHUP) ends the app, not the training
    try:
        with guard:
            app.run()
    finally:
        if not guard.hung_up.is_set():
            app.session.close(
                timeout=CLOSE_TIMEOUT_S
            )  # the app waited already; this is the safety net
    if guard.hung_up.is_set():
        return keep_training(app.session, app.session.run_dir)  # type: ignore[arg-type]
    if app.session.state == ev.FAILED:
        print(f"tui-gan: error: {app.session.error}", file=sys.stderr)
        return 1
    return 0
