"""The trainer: a GAN training loop in a background thread that emits events and takes commands."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from core import commanding, startup
from core import commands as cmd
from core import events as ev
from core.checkpoints import load_checkpoint
from core.config import TrainConfig
from core.data import DataSource
from core.distributed import Cluster
from core.errors import UserError
from core.faults import WriteFaults
from core.outputs import RunOutputs
from core.plan import PlanRequest, planned_steps, shown_epoch
from core.rundir import RunDir
from core.startup import Place
from core.step import GanStep, device_memory, device_uuid
from core.steplog import Logged, StepLog, Throughput, parse_every
from core.subscribers import Subscribers
from core.writer import RunWriter, WriteFailed

Subscriber = Callable[[ev.Event], None]

STATUS_INTERVAL_S = 2.0


class Trainer:
    """Trains one GAN run in a background thread.

    `start()` returns at once; `send()` queues a command (handled at the next step boundary, also
    while paused, and answered with a CommandDone or CommandRefused event of its id); `subscribe()`
    adds an event sink called on the training thread, which must not block (the UI's sink only
    enqueues). Every event also goes to `events.jsonl`.
    """

    def __init__(self, config: TrainConfig, resume_from: str | Path | None = None) -> None:
        self.config = config
        self.resume_from = Path(resume_from) if resume_from else None
        self.run_dir = RunDir(config.default_run_dir())
        self._subscribers: Subscribers[ev.Event] = Subscribers()
        self._thread: threading.Thread | None = None
        self._state = ev.STARTING
        self._stop: cmd.Stop | None = None
        self.faults = WriteFaults(self)  # writes that failed: the run waits paused for room
        self.place = Place()
        self.error: str | None = None
        self._gan: GanStep | None = None
        self.data: DataSource | None = None
        self.device = torch.device("cpu")
        self._last_status = 0.0
        self._resume_payload: dict[str, Any] | None = None
        self.outputs = RunOutputs(self)  # samples, metrics and checkpoints
        # the control socket of issue 5; tests of the bare loop may turn it off
        self.serve_control = True
        self.control: Any = None
        # under torchrun every rank trains; the writer decides who writes
        self.cluster = Cluster.from_env()
        self.inbox = commanding.Inbox(self.cluster)
        self.rank = self.cluster.rank if self.cluster else 0
        self.world_size = self.cluster.world_size if self.cluster else 1
        self.writer = RunWriter(self.run_dir, self.rank)
        self.plan_note = ""  # how a resume changed the plan, said in the run's first event
        self._start_step = 0

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        plan: PlanRequest | None = None,
        *,
        named: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Trainer:
        """A trainer that continues the run of checkpoint `path` in its own run directory, to the plan
        `plan` asks for (NothingToTrain, before anything is written, when it would train no step).

        A plug-in model or data set of the checkpoint is loaded only when the caller names it: in
        `named` (the plug-ins the user started with) or by an override of the field."""
        payload = load_checkpoint(path)
        config = startup.resumed_config(Path(path), payload, overrides, named)
        trainer = cls(config, resume_from=path)
        trainer.config, trainer.plan_note = startup.extended_plan(
            trainer.config, payload, trainer.world_size, plan
        )
        trainer._resume_payload = payload
        return trainer

    # -- public interface ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def shown_epoch(self) -> int:
        """The epoch in progress, 1-based; at an epoch's end that epoch, never one past the last."""
        return shown_epoch(self.place.epoch, self.place.batch)

    @property
    def step(self) -> int:
        """Steps trained so far."""
        return self.place.step

    @property
    def gan(self) -> GanStep:
        """The models and their step; RuntimeError before the run has built them."""
        if self._gan is None:
            raise RuntimeError("the trainer has not built its models yet")
        return self._gan

    @property
    def built(self) -> bool:
        """Whether the models are built (a run that failed at start has none)."""
        return self._gan is not None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register an event sink; returns a function that removes it."""
        return self._subscribers.add(callback)

    def send(self, command: cmd.Command) -> None:
        """Queue a command; thread-safe and never blocks."""
        self.inbox.put(command)

    def start(self) -> None:
        """Start training in a background thread and return at once."""
        if self._thread is not None:
            raise RuntimeError("trainer already started")
        self._thread = threading.Thread(target=self._main, name="tui-gan-trainer", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the training thread; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> str:
        """Train in the calling thread until the run ends; returns the final state."""
        self._main()
        return self._state

    @property
    def planned_steps(self) -> int:
        steps_per_epoch = self.data.steps_per_epoch if self.data is not None else 0
        return planned_steps(self.config.epochs, self.config.max_steps, steps_per_epoch)

    # -- events ------------------------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        try:
            self.writer.event(event)
        except WriteFailed as exc:  # the event is kept; subscribers still get it at once
            self.faults.failed(exc)
        for error in self._subscribers.publish(event):  # a broken sink must never stop training
            self._alert("warning", f"event subscriber removed after error: {error}")

    def _set_state(self, state: str, reason: str = "") -> None:
        if state == self._state:
            return
        self._state = state
        self._emit(ev.StateChanged(state, reason, self.step))
        self._write_status()

    def _write_status(self) -> None:
        self._last_status = time.monotonic()
        try:
            self.writer.status(
                self._state,
                self.step,
                self.shown_epoch,
                self.error,
                self.faults.fault,
                self.place.losses,
            )
        except WriteFailed:
            pass  # status.json is a convenience: events.jsonl is the record, runs reads both

    def _alert(self, level: str, message: str) -> None:
        self._emit(ev.Alert(level, message, self.step))

    # -- life cycle ----------------------------------------------------------------------------------

    def _main(self) -> None:
        started = time.monotonic()
        if self.cluster is not None and not self._join_cluster():
            return
        try:
            self.writer.open()
            self._serve_control()
            self._emit(ev.StateChanged(ev.STARTING, "loading data and building models", self.step))
            self._write_status()
            self._setup()
            self._loop()
            self._finish(time.monotonic() - started)
        except UserError as exc:
            self._fail(str(exc))
        except Exception as exc:
            lost = self.cluster.describe_failure(exc, self.step) if self.cluster else None
            self._fail(lost or f"{type(exc).__name__}: {exc}{self._save_traceback()}")
        finally:
            if self._stop is not None:  # the run failed before the stop was carried out
                self._refuse(self._stop, f"the run {self._state}: {self.error}")
            self._refuse_pending(f"the run has ended ({self._state})")
            if self.control is not None:
                self.control.close()  # after the final events, so attached clients receive them
            # A new run that fails before its first step (missing data, no GPU) leaves no directory behind.
            self.writer.close(
                keep=self._state != ev.FAILED or self.built or self.resume_from is not None
            )
            if self.cluster is not None:
                self.cluster.close()

    def _join_cluster(self) -> bool:
        """Join the torchrun process group and take rank 0's run directory; False on failure."""
        assert self.cluster is not None
        try:
            self.run_dir = startup.join_cluster(self.cluster, self.config, self.run_dir)
            self.writer = RunWriter(self.run_dir, self.rank)
        except Exception as exc:  # no run directory is agreed on yet: the error goes to stderr only
            self.error = (
                f"rank {self.rank}: cannot join the distributed run: {type(exc).__name__}: {exc}"
            )
            self._state = ev.FAILED
            self.cluster.close()
            return False
        return True

    def _serve_control(self) -> None:
        """Open the run's control socket (watch/ctl attach there); training goes on without it."""
        # the control socket lives beside the log
        if not self.serve_control or not self.writer.enabled:
            return
        from core.control import serve

        try:
            self.control = serve(self)
        except (OSError, UserError) as exc:
            self._alert("warning", f"no control endpoint (watch/ctl cannot attach): {exc}")

    def _save_traceback(self) -> str:
        try:
            path = self.writer.traceback(traceback.format_exc())
        except WriteFailed:
            return ""
        return f" (traceback in {path})" if path else ""

    def _fail(self, message: str) -> None:
        self.error, self.faults.ended = message, True
        if not self.writer.ready:  # could not even open the run directory
            self._state = ev.FAILED
            return
        self._emit(ev.RunFailed(message, self.step))
        self._set_state(ev.FAILED, message)

    def _finish(self, seconds: float) -> None:
        """Save the last samples and checkpoint (waiting paused while they cannot be written), then end."""
        if self._state == ev.FAILED:
            return
        stop, saved = self.faults.save_the_last()
        self.faults.ended = True
        if stop is None:
            self._emit(ev.RunFinished(self.step, self.shown_epoch, seconds, self._start_step))
            self._set_state(ev.FINISHED, "all steps done")
        else:
            self._set_state(ev.STOPPED, stop.reason)
        if stop is not None and self._stop is not None:
            checkpoint = f"; checkpoint {saved[-1]}" if saved and saved[-1] else ""
            self._done(self._stop, f"stopped at step {self.step}{checkpoint}")
            self._stop = None
        self.faults.write_the_record()

    def _setup(self) -> None:
        payload, self._resume_payload = self._resume_payload, None  # freed once in the models
        built = startup.build(
            self.config, self.cluster, self.resume_from, payload, self._decoding_progress
        )
        self.device, self.data = built.device, built.data
        self._gan, self.place = built.gan, built.place
        for level, message in built.alerts:
            self._alert(level, message)
        # The config may carry live changes (lr, betas); the optimizers must use them, not the saved groups.
        self.gan.schedule(self.step, self.planned_steps)
        self.faults.attempt(lambda: self.writer.config(self.config))
        self._start_step = self.step
        self._emit(
            ev.RunStarted(
                run_dir=str(self.run_dir.path),
                config=self.config.to_dict(),
                device=str(self.device),
                planned_steps=self.planned_steps,
                steps_per_epoch=self.data.steps_per_epoch,
                start_step=self._start_step,
                resumed_from=str(self.resume_from) if self.resume_from else None,
                world_size=self.world_size,
                plan_note=self.plan_note,
                device_uuid=device_uuid(self.device),
            )
        )
        if built.note:
            self._alert("warning", built.note)

    def _decoding_progress(self, done: int, total: int) -> None:
        self._emit(ev.ImagesDecoded(done, total))

    # -- the loop ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        gan, data, place = self.gan, self.data, self.place
        assert data is not None
        if self._state != ev.PAUSED:  # a write at start-up may have failed
            self._set_state(ev.RUNNING, "resumed" if self.resume_from else "started")
        throughput = Throughput(self.config.batch_size * self.world_size)  # of the whole run
        # the step's numbers stay on the device until `log` is read
        log = StepLog(parse_every(self.config.log_every), fixed_steps=self.cluster is not None)
        while place.step < self.planned_steps and place.epoch < self.config.epochs:
            epoch_started = time.monotonic()
            sum_d = sum_g = 0.0  # plain floats: no tensor allocated per step
            trained = 0
            for real in data.batches(place.epoch, place.batch):
                if not self._handle_commands() or place.step >= self.planned_steps:
                    return
                if self.config.lr_decay != "none":
                    gan.schedule(place.step, self.planned_steps)
                t0 = time.perf_counter()
                log.add(gan.device_step(real, place.step + 1), time.perf_counter() - t0)
                place.step, place.batch, trained = place.step + 1, place.batch + 1, trained + 1
                if not (log.due() or self._read_now(data.steps_per_epoch)):
                    continue
                logged = self._read(log)
                sum_d += logged.means[0] * logged.steps
                sum_g += logged.means[1] * logged.steps
                self._after_step(logged, throughput.update(logged))
                if self._stop is not None or self._state == ev.FAILED:
                    return
            if place.batch >= data.steps_per_epoch:
                n, seconds = max(trained, 1), time.monotonic() - epoch_started
                self._emit(
                    ev.EpochEnded(place.epoch + 1, place.step, sum_d / n, sum_g / n, seconds)
                )
                place.epoch, place.batch = place.epoch + 1, 0

    def _read_now(self, steps_per_epoch: int) -> bool:
        """Whether this step must be read before log_every says so: the run or epoch ends, a sample,
        metric or checkpoint follows (never of non-finite weights unseen), or a command waits."""
        c, step = self.config, self.step
        due = (c.sample_every, c.eval_every, c.checkpoint_every)
        return (
            step >= self.planned_steps
            or self.place.batch >= steps_per_epoch
            or any(every and step % every == 0 for every in due)
            # ranks must read at the same steps
            or (self.cluster is None and not self.inbox.empty())
        )

    def _read(self, log: StepLog) -> Logged:
        """The numbers since the last reading; in a cluster the mean over ranks (one verdict on NaN)."""
        logged = log.take()
        if self.cluster is not None:
            shared = self.cluster.mean([*logged.means, *logged.last, logged.seconds / logged.steps])
            logged = Logged(shared[:4], shared[4:8], logged.steps, logged.seconds)
            log.retune(shared[8])
        return logged

    def _after_step(self, logged: Logged, rate: float) -> None:
        self.place.losses = {"loss_d": logged.last[0], "loss_g": logged.last[1]}
        place = (self.step, self.shown_epoch, self.place.batch)
        self._emit(logged.event(place, self.gan.lrs, rate, device_memory(self.device)))
        if not logged.finite:  # NaN pauses at most log_every steps late
            message = (
                f"loss is not finite at step {self.step} (loss_d={logged.last[0]}, "
                f"loss_g={logged.last[1]}); lower the learning rates or resume from an earlier "
                "checkpoint"
            )
            self._alert("error", message)
            if self.config.on_nan == "stop":
                self._fail(message)
                return
            self._set_state(ev.PAUSED, "non-finite loss")
        self.outputs.due(self.faults.attempt)
        if time.monotonic() - self._last_status > STATUS_INTERVAL_S:
            self._write_status()

    # -- commands ------------------------------------------------------------------------------------

    def _handle_commands(self) -> bool:
        """Apply the commands sent (rank 0's, on every rank of a cluster); while paused, wait here.
        False when the run must end."""
        while True:
            for command in self.inbox.take_shared(wait=self._state == ev.PAUSED):
                commanding.apply(self, command)
                if self._stop is not None:
                    return False
            if self._state != ev.PAUSED:
                return True

    def _refuse_pending(self, reason: str) -> None:
        """Answer the commands that came too late to be handled."""
        for command in self.inbox.take():
            self._refuse(command, reason)

    def _done(self, command: cmd.Command, detail: str) -> None:
        self._emit(ev.CommandDone(command.id, command.kind, detail, self.step))

    def _refuse(self, command: cmd.Command, reason: str) -> None:
        self._emit(ev.CommandRefused(command.id, command.kind, reason, self.step))

    # -- outputs ---------------------------------------------------------------------------------

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that draws samples and is scored: the moving average when g_ema is on."""
        return self.gan.sampler
