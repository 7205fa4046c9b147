"""Writes that fail: a run whose files cannot be written pauses, keeps what it could not write and
tries it again on resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from core import commands as cmd
from core import events as ev
from core.commanding import Inbox, Refused
from core.distributed import Cluster
from core.outputs import RunOutputs
from core.step import GanStep
from core.writer import RunWriter, WriteFailed


class Run(Protocol):
    """What the fault handling reads from and does to the run it belongs to (the Trainer)."""

    writer: RunWriter
    cluster: Cluster | None
    outputs: RunOutputs
    _stop: cmd.Stop | None

    @property
    def state(self) -> str: ...

    @property
    def step(self) -> int: ...

    @property
    def built(self) -> bool: ...

    @property
    def gan(self) -> GanStep: ...

    def _alert(self, level: str, message: str) -> None: ...

    def _set_state(self, state: str, reason: str = "") -> None: ...

    def _write_status(self) -> None: ...

    def _handle_commands(self) -> bool: ...

    @property
    def inbox(self) -> Inbox: ...

    def _done(self, command: cmd.Command, detail: str) -> None: ...

    def _refuse(self, command: cmd.Command, reason: str) -> None: ...


class WriteFaults:
    """Tries the run's writes; a failed one pauses the run with an alert and waits for a resume."""

    def __init__(self, run: Run) -> None:
        self.run = run
        # the write that paused the run, until a resume succeeds
        self.fault: WriteFailed | None = None
        self.retry: list[Callable[[], object]] = []  # the writes a resume tries again
        self.ended = False  # the run's final state is set; only its record may still be written

    def attempt(self, write: Callable[[], object]) -> bool:
        """Run `write`; when a file of the run cannot be written, pause with `write` kept for resume."""
        try:
            write()
        except WriteFailed as exc:
            self.failed(exc, write)
            return False
        return True

    def failed(self, exc: WriteFailed, retry: Callable[[], object] | None = None) -> None:
        """Pause the run (never end it) because a file of it cannot be written; files already saved
        stay as they are, events wait in memory, and resume tries the failed writes again."""
        run = self.run
        if run.cluster is not None or self.ended:  # nothing left to pause (or rank 0 alone would)
            then = (
                "free space and resume to write the events kept in memory"
                if self.ended
                else "training goes on unrecorded"
            )
            run._alert("error", f"cannot write {exc.path}: {exc.reason}; {then}")
            return
        if retry is not None:
            self.retry.append(retry)
        if self.fault is None:
            self.fault = exc
            need = run.writer.checkpoint_size or (run.gan.checkpoint_bytes() if run.built else 0)
            room = (
                f"free about {need / 1e6:.1f} MB (the size of a checkpoint)"
                if need
                else "free space"
            )
            run._alert(
                "error",
                f"paused at step {run.step}: cannot write {exc.path}: {exc.reason}; "
                f"files already saved are untouched; {room} or fix the directory, then resume",
            )
        run._set_state(ev.PAUSED, f"cannot write the run's files: {exc.reason}")

    def recover(self) -> None:
        """Write what could not be written (events first, then the failed saves); Refused while it
        still cannot, with the run left paused."""
        try:
            self._write_waiting(self.retry)
        except WriteFailed as exc:
            raise Refused(
                f"still cannot write {exc.path}: {exc.reason}; free space and resume again"
            ) from None
        self.fault = None

    def _write_waiting(self, writes: list[Callable[[], object]]) -> None:
        """The events kept in memory, then `writes` in order, each forgotten once it is written;
        WriteFailed leaves the rest waiting."""
        self.run.writer.flush()
        while writes:
            writes[0]()
            writes.pop(0)

    def take_pending(self) -> list[Callable[[], object]]:
        """The writes still waiting for a resume, handed over and forgotten with the fault."""
        pending, self.retry, self.fault = self.retry, [], None
        return pending

    def save_the_last(self) -> tuple[cmd.Stop | None, list[Path | None]]:
        """Save the last samples and the checkpoint the end asks for; while they cannot be written the
        run waits paused (a stop is refused) until a resume writes them or a stop without a checkpoint.
        The stop that ends the run (None when it finished) and the checkpoints saved."""
        run = self.run
        stop = run._stop  # the stop asked for: it holds while the run waits for room
        saved: list[Path | None] = []
        pending = self.take_pending()  # a stop may come while writes wait

        def last_writes() -> None:
            self._write_waiting(pending)
            run.outputs.save_samples()
            if stop is None or stop.checkpoint:
                saved.append(run.outputs.save_checkpoint("final" if stop is None else "stop"))

        while not self.attempt(last_writes) and run.cluster is None:
            if run._stop is not None:  # answered now: the run waits instead of stopping
                run._refuse(
                    run._stop,
                    f"not stopped: {self.fault}; paused at step {run.step}, "
                    "resume once there is room to save and stop",
                )
                run._stop = None
            if run._handle_commands():  # a resume wrote them
                break
            stop = run._stop  # a new stop while paused: with a checkpoint, try again; without, end
            assert stop is not None  # _handle_commands returns False only for a stop
            self.retry.clear()
            if not stop.checkpoint:
                break
        return stop, saved

    def write_the_record(self) -> None:
        """Once the run has ended, wait while events.jsonl misses events: a resume tries to write
        them, a stop gives them up (status.json then says how many are missing)."""
        run = self.run
        while run.writer.backlog and run.cluster is None:
            for command in run.inbox.take(wait=True):
                if isinstance(command, cmd.Stop):
                    run._done(command, f"ended; {run.writer.backlog} events not written")
                    run._write_status()
                    return
                if not isinstance(command, cmd.Resume):
                    run._refuse(command, f"the run has ended ({run.state})")
                    continue
                try:
                    run.writer.flush()
                except WriteFailed as exc:
                    run._refuse(
                        command,
                        f"still cannot write {exc.path}: {exc.reason}; free space and resume again",
                    )
                else:
                    run._done(command, "events written")
                    run._write_status()
