"""Headless training: a rich progress bar on a terminal, plain log lines otherwise, clean signals.

The one loop that follows an in-process run without the app: `tui-gan train --headless` uses it
from the start, and a TUI training whose terminal hung up falls back to it (`cli/hangup.py`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from core import commands as cmd
from core import events as ev
from tui_gan.app.session import InProcessSession
from tui_gan.view.metricnames import beside_reference, shown_keys

if TYPE_CHECKING:
    from core.trainer import Trainer

LOG_INTERVAL_S = 10.0
POLL_S = 0.2  # how often the loop drains the run's events
EXIT_CODES = {ev.FINISHED: 0, ev.STOPPED: 0, ev.FAILED: 1}


def describe(event: ev.Event) -> str | None:
    """A one-line message for the events a person wants to see in a log, else None."""
    if isinstance(event, ev.RunStarted):
        resumed = (
            f", resumed from {event.resumed_from} at step {event.start_step}"
            if event.resumed_from
            else ""
        )
        config = event.config
        # a plug-in model is named: the preset only lends it the other settings
        what = (
            config["preset"]
            if ":" not in config["arch"]
            else f"{config['arch']} ({config['preset']} settings)"
        )
        return (
            f"run {event.run_dir}: {what} on {config['dataset']}, "
            f"device {event.device}, {event.planned_steps} steps{resumed}"
            + (f"; {event.plan_note}" if event.plan_note else "")
        )
    if isinstance(event, ev.CheckpointSaved):
        return f"checkpoint ({event.reason}) at step {event.step}: {event.path}"
    if isinstance(event, ev.Alert):
        return f"{event.level}: {event.message}"
    if isinstance(event, ev.StateChanged) and event.state not in (
        ev.STARTING,
        ev.RUNNING,
        ev.FAILED,
    ):
        return f"state {event.state}" + (f": {event.reason}" if event.reason else "")
    if isinstance(event, ev.HparamsChanged):
        return "hyperparameters changed: " + ", ".join(f"{k}={v}" for k, v in event.changes.items())
    if isinstance(event, ev.RunFinished):
        this = f" ({event.step - event.start_step} in this session)" if event.start_step else ""
        return f"finished: {event.step} steps{this} in {event.seconds / 60:.1f} min"
    if isinstance(event, ev.MetricsComputed):
        parts = [
            beside_reference(key, event.values, event.reference) for key in shown_keys(event.values)
        ]
        return f"metrics at step {event.step}: " + "; ".join(
            parts + ([event.note] if event.note else [])
        )
    return None


def step_line(e: ev.StepMetrics, planned: int) -> str:
    """One log line of a step; `planned` 0 when the run's start was not seen."""
    of = f"/{planned}" if planned else ""
    return (
        f"step {e.step}{of} epoch {e.epoch} loss_d {e.loss_d:.4f} loss_g {e.loss_g:.4f} "
        f"D(x) {e.d_x:.3f} D(G(z)) {e.d_g_z:.3f} {e.img_per_s:.0f} img/s"
    )


def detach_from_terminal(fds: tuple[int, ...] = (1, 2)) -> None:
    """Point `fds` at /dev/null: their terminal is gone and every write to it would fail (EIO)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass
    finally:
        os.close(devnull)


class Stoppable(Protocol):
    run_dir: Path

    def send(self, command: cmd.Command) -> None: ...


class SignalStop:
    """SIGINT/SIGTERM stop the run with a checkpoint; a second one exits at once; SIGHUP never
    stops it: a dropped SSH link only detaches the output from the vanished terminal (a redirected
    output, e.g. under nohup, is left alone), and training goes on writing to its run directory."""

    def __init__(self, run: Stoppable, out: TextIO) -> None:
        self.run, self.out, self.count = run, out, 0
        self._previous: dict[int, Any] = {}
        self.tty_fds = tuple(fd for fd in (0, 1, 2) if _isatty(fd))

    def __enter__(self) -> SignalStop:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.getsignal(sig)
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGHUP, self._hangup if self.tty_fds else signal.SIG_IGN)
        return self

    def _hangup(self, signum: int, frame: object) -> None:
        detach_from_terminal(self.tty_fds)

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count > 1:  # a stop that could not save (a full disk) must not trap the user
            print(
                f"\n{name} again: exiting now; {newest_checkpoint(self.run.run_dir)}",
                file=sys.stderr,
            )
            os._exit(128 + signum)
        print(
            f"\n{name}: saving a checkpoint and stopping (Ctrl-C again to quit at once)",
            file=self.out,
        )
        self.run.send(cmd.Stop(checkpoint=True, reason=f"{name} received"))

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def newest_checkpoint(run_dir: Path) -> str:
    """One line naming the newest checkpoint of the run on disk (or saying there is none)."""
    from core.checkpoints import list_checkpoints

    try:
        saved = [c for c in list_checkpoints(run_dir) if c.readable]
    except OSError:
        saved = []
    if not saved:
        return "no checkpoint of this run exists"
    return f"the newest checkpoint is {saved[-1].path} (step {saved[-1].step})"


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def follow(session: InProcessSession, on_event: Callable[[ev.Event], None]) -> None:
    """Feed the session's events to `on_event` on this thread until its training thread ends."""

    def deliver(event: ev.Event) -> None:
        try:
            on_event(event)
        # the terminal went away (EIO) before its SIGHUP arrived: printing is optional
        except OSError:
            detach_from_terminal(tuple(fd for fd in (1, 2) if _isatty(fd)) or (1, 2))

    while True:
        ended = session.wait(POLL_S)
        for event in session.events():
            deliver(event)
        if ended:
            return


def run_headless(trainer: Trainer, out: TextIO | None = None) -> int:
    """Train to the end in this process; returns the exit code (0 finished or stopped, 1 failed)."""
    session = InProcessSession(trainer)
    out = out or sys.stdout
    if trainer.rank > 0:  # under torchrun rank 0 speaks for the run; the others only train
        return train_to_end(session, out, report=None)
    return train_to_end(session, out, report=_progress_bar if out.isatty() else log_lines)


Report = Callable[[InProcessSession, TextIO], None]


def train_to_end(session: InProcessSession, out: TextIO, report: Report | None) -> int:
    """Start `session` (unless it is) and follow it to its end, `report`ing on `out`; SIGINT and
    SIGTERM stop it with a checkpoint. Its exit code; a failure is said on stderr."""
    with SignalStop(session, out):
        session.start()
        if report is None:
            follow(session, lambda event: None)
        else:
            report(session, out)
    if session.state == ev.FAILED:
        print(f"tui-gan: error: {session.error}", file=sys.stderr, flush=True)
    return EXIT_CODES.get(session.state, 1)


def log_lines(session: InProcessSession, out: TextIO) -> None:
    planned = 0
    last_log = 0.0
    last_step: ev.StepMetrics | None = None

    def on_event(event: ev.Event) -> None:
        nonlocal planned, last_log, last_step
        if isinstance(event, ev.RunStarted):
            planned = event.planned_steps
        if isinstance(event, ev.ImagesDecoded):  # start-up progress: a line every LOG_INTERVAL_S
            if time.monotonic() - last_log >= LOG_INTERVAL_S or event.done == event.total:
                last_log = time.monotonic()
                print(f"decoding {event.done:,} / {event.total:,} images", file=out, flush=True)
            return
        if isinstance(event, ev.StepMetrics):
            last_step = event
            if time.monotonic() - last_log >= LOG_INTERVAL_S or event.step == planned:
                last_log = time.monotonic()
                print(step_line(event, planned), file=out, flush=True)
            return
        if isinstance(event, ev.EpochEnded) and last_step is not None:
            print(
                f"epoch {event.epoch} done: loss_d {event.loss_d:.4f} loss_g {event.loss_g:.4f} "
                f"({event.seconds:.0f} s)",
                file=out,
                flush=True,
            )
        line = describe(event)
        if line:
            print(line, file=out, flush=True)

    follow(session, on_event)


def _progress_bar(session: InProcessSession, out: TextIO) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=out)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=4,
    )
    task = progress.add_task("starting", total=None, metrics="")

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.ImagesDecoded):
            progress.update(task, total=event.total, completed=event.done, description="decoding")
        elif isinstance(event, ev.RunStarted):
            # reset, not update: the decoding's rate must not leak into the training's ETA
            progress.reset(
                task, total=event.planned_steps, completed=event.start_step, description="training"
            )
        elif isinstance(event, ev.StepMetrics):
            progress.update(
                task,
                completed=event.step,
                description=f"epoch {event.epoch}",
                metrics=(
                    f"D {event.loss_d:.3f} G {event.loss_g:.3f} D(x) {event.d_x:.2f} "
                    f"D(G(z)) {event.d_g_z:.2f} {event.img_per_s:.0f} img/s"
                ),
            )
        line = describe(event)
        if line:
            progress.console.print(line, markup=False, highlight=False)

    with progress:
        follow(session, on_event)
