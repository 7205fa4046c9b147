"""Carrying out a command: pause, resume, stop, live hyperparameters, saves on demand."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig, live_change
from core.distributed import Cluster
from core.errors import ConfigError
from core.step import GanStep
from core.writer import RunWriter, WriteFailed

if TYPE_CHECKING:
    from core.faults import WriteFaults
    from core.outputs import RunOutputs


PAUSE_POLL_S = 0.1  # while paused, how often the trainer looks for commands (a cluster's heartbeat)


class Inbox:
    """The commands sent to a run: put from any thread without blocking, taken by the training
    thread at step boundaries; in a cluster every rank takes rank 0's, at the same step."""

    def __init__(self, cluster: Cluster | None) -> None:
        self._queue: queue.SimpleQueue[cmd.Command] = queue.SimpleQueue()
        self.cluster = cluster

    def put(self, command: cmd.Command) -> None:
        self._queue.put(command)

    def empty(self) -> bool:
        return self._queue.empty()

    def take(self, wait: bool = False) -> list[cmd.Command]:
        """This process's queued commands; with `wait`, the first waited for up to PAUSE_POLL_S."""
        commands = []
        try:
            if wait:
                commands.append(self._queue.get(timeout=PAUSE_POLL_S))
            while True:
                commands.append(self._queue.get_nowait())
        except queue.Empty:
            return commands

    def take_shared(self, wait: bool) -> list[cmd.Command]:
        """`take` on rank 0, shared with every rank (while paused, rank 0 sends an empty list every
        PAUSE_POLL_S: a heartbeat that keeps the ranks in step, never timing out)."""
        commands = self.take(wait)
        if self.cluster is None:
            return commands
        shared = self.cluster.share_commands([cmd.to_json(c) for c in commands])
        return [cmd.from_json(data) for data in shared]


class Refused(Exception):
    """A command the trainer will not carry out; the message is the reason."""


class Run(Protocol):
    """What a command reads from and changes in the run it is sent to (the Trainer)."""

    config: TrainConfig
    writer: RunWriter
    faults: WriteFaults
    outputs: RunOutputs
    _stop: cmd.Stop | None

    @property
    def state(self) -> str: ...

    @property
    def step(self) -> int: ...

    @property
    def planned_steps(self) -> int: ...

    @property
    def gan(self) -> GanStep: ...

    def _emit(self, event: ev.Event) -> None: ...

    def _alert(self, level: str, message: str) -> None: ...

    def _set_state(self, state: str, reason: str = "") -> None: ...

    def _done(self, command: cmd.Command, detail: str) -> None: ...

    def _refuse(self, command: cmd.Command, reason: str) -> None: ...


def saved(what: str, path: Path | None) -> str:
    """The answer to a command that saved `what` at `path`."""
    return (
        f"{what} saved: {path}"
        if path
        else f"{what} not kept by this process (another one keeps the run)"
    )


def apply(run: Run, command: cmd.Command) -> None:
    """Carry out one command and answer it (a stop is answered once the run has stopped)."""
    try:
        detail = carry_out(run, command)
    except Refused as exc:
        run._alert("warning", f"refused {command.kind}: {exc}")
        run._refuse(command, str(exc))
    except WriteFailed as exc:
        run._refuse(command, f"could not write {exc.path}: {exc.reason}")
        run.faults.failed(exc)
    else:
        if detail is not None:
            run._done(command, detail)


def carry_out(run: Run, command: cmd.Command) -> str | None:
    """Do what `command` asks; the answer's detail (None for a stop). Refused when it cannot."""
    if isinstance(command, cmd.Pause):
        if run.state == ev.PAUSED:
            run._alert("info", "already paused")
            return "already paused"
        run._set_state(ev.PAUSED, "pause requested")
        return f"paused at step {run.step}"
    if isinstance(command, cmd.Resume):
        if run.state != ev.PAUSED:
            run._alert("info", "not paused")
            return "not paused"
        run.faults.recover()
        run._set_state(ev.RUNNING, "resume requested")
        return f"running from step {run.step}"
    if isinstance(command, cmd.Stop):
        run._stop = command
        run._set_state(ev.STOPPING, command.reason)
        return None
    if isinstance(command, cmd.SetHyperparams):
        return set_hyperparams(run, command.changes)
    if isinstance(command, cmd.SaveCheckpoint):
        return saved("checkpoint", run.outputs.save_checkpoint("manual"))
    if isinstance(command, cmd.SampleNow):
        return saved("samples", run.outputs.save_samples())
    raise Refused(f"unknown command {command!r}")


def set_hyperparams(run: Run, changes: dict[str, Any]) -> str:
    """Apply live changes to the config and the optimizers; Refused for a change that needs a restart."""
    try:
        new = live_change(run.config, changes)
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    run.config = new
    run.gan.configure(new, run.step, run.planned_steps)
    run.faults.attempt(lambda: run.writer.config(run.config))
    values = {k: getattr(new, k) for k in changes}
    run._emit(ev.HparamsChanged(values, run.step))
    return f"changed at step {run.step}: " + ", ".join(f"{k}={v}" for k, v in values.items())
