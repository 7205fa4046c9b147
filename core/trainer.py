"""The trainer: a GAN training loop in a background thread that emits events and takes commands."""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core import commands as cmd
from core import events as ev
from core.checkpoints import capture_rng, load_checkpoint, restore_rng, run_dir_of
from core.config import TrainConfig, live_change
from core.data import DataSource, load_source
from core.distributed import Cluster
from core.errors import ConfigError, UserError, first_line
from core.grids import samples_picture
from core.rundir import RunDir
from core.step import GanStep, cuda_unusable, device_memory, device_uuid, resolve_device
from core.steplog import Logged, StepLog, parse_every
from core.writer import RunWriter, WriteFailed

Subscriber = Callable[[ev.Event], None]

STATUS_INTERVAL_S = 2.0
PAUSE_POLL_S = 0.1


class Refused(Exception):
    """A command the trainer will not carry out; the message is the reason."""


def _saved(what: str, path: Path | None) -> str:
    return f"{what} saved: {path}" if path else f"{what} not kept by this process (another one keeps the run)"


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
        self._commands: queue.SimpleQueue[cmd.Command] = queue.SimpleQueue()
        self._subscribers: list[Subscriber] = []
        self._sub_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = ev.STARTING
        self._stop: cmd.Stop | None = None
        self.step = 0
        self.epoch = 0  # 0-based epoch in progress
        self.batch = 0  # batches of `epoch` already trained
        self.error: str | None = None
        self._gan: GanStep | None = None
        self.data: DataSource | None = None
        self.device = torch.device("cpu")
        self._last_status = 0.0
        self._last_stats: dict[str, float] = {}
        self._last_metrics: dict[str, float] = {}
        self._resume_payload: dict[str, Any] | None = None
        self._sampled: tuple[int, Path | None] | None = None  # (step, path) of the last samples
        self._evaluator: Any = None
        self.serve_control = True  # the control socket of issue 5; tests of the bare loop may turn it off
        self.control: Any = None
        self.cluster = Cluster.from_env()  # under torchrun every rank trains; the writer decides who writes
        self.rank = self.cluster.rank if self.cluster else 0
        self.world_size = self.cluster.world_size if self.cluster else 1
        self.writer = RunWriter(self.run_dir, self.rank)
        self._world_note = ""

    @classmethod
    def from_checkpoint(cls, path: str | Path, **overrides: Any) -> Trainer:
        """A trainer that continues the run of checkpoint `path` in its own run directory."""
        payload = load_checkpoint(path)
        config = TrainConfig.from_dict(payload["config"])
        run_dir = run_dir_of(path) or (config.run_dir and Path(config.run_dir))
        trainer = cls(config.replace(**{"run_dir": str(run_dir) if run_dir else None, **overrides}), resume_from=path)
        trainer._resume_payload = payload
        return trainer

    # -- public interface ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

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
        with self._sub_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._sub_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def send(self, command: cmd.Command) -> None:
        """Queue a command; thread-safe and never blocks."""
        self._commands.put(command)

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
        total = self.config.epochs * steps_per_epoch
        return min(total, self.config.max_steps) if self.config.max_steps else total

    # -- events ------------------------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        self.writer.event(event)
        with self._sub_lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception as exc:  # a broken sink must never stop training
                with self._sub_lock:
                    if callback in self._subscribers:
                        self._subscribers.remove(callback)
                self._emit(ev.Alert("warning", f"event subscriber removed after error: {exc}", self.step))

    def _set_state(self, state: str, reason: str = "") -> None:
        if state == self._state:
            return
        self._state = state
        self._emit(ev.StateChanged(state, reason, self.step))
        self._write_status()

    def _write_status(self) -> None:
        self._last_status = time.monotonic()
        extra = {"error": self.error} if self.error else {}
        try:
            self.writer.status(self._state, self.step, self.epoch + 1, **extra, **self._last_stats)
        except WriteFailed:
            pass  # status.json is a convenience; a full disk is reported by checkpoint alerts

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
            self.writer.close(keep=self._state != ev.FAILED or self.built or self.resume_from is not None)
            if self.cluster is not None:
                self.cluster.close()

    def _join_cluster(self) -> bool:
        """Join the torchrun process group and take rank 0's run directory; False on failure."""
        assert self.cluster is not None
        try:
            self.cluster.start(self.cluster.device(resolve_device(self.config.device)))
            self.run_dir = RunDir(self.cluster.share_text(str(self.run_dir.path)))
            self.writer = RunWriter(self.run_dir, self.rank)
        except Exception as exc:  # no run directory is agreed on yet: the error goes to stderr only
            self.error = f"rank {self.rank}: cannot join the distributed run: {type(exc).__name__}: {exc}"
            self._state = ev.FAILED
            self.cluster.close()
            return False
        return True

    def _serve_control(self) -> None:
        """Open the run's control socket (watch/ctl attach there); training goes on without it."""
        if not self.serve_control or not self.writer.enabled:  # the control socket lives beside the log
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
        self.error = message
        if not self.writer.ready:  # could not even open the run directory
            self._state = ev.FAILED
            return
        self._emit(ev.RunFailed(message, self.step))
        self._set_state(ev.FAILED, message)

    def _finish(self, seconds: float) -> None:
        if self._state == ev.FAILED:
            return
        self._save_samples_quietly()
        stop, self._stop = self._stop, None
        checkpoint: Path | None = None
        problem = ""
        if stop is None or stop.checkpoint:
            try:
                checkpoint = self._save_checkpoint("final" if stop is None else "stop")
            except WriteFailed as exc:
                problem = exc.reason
        if stop is None:
            self._emit(ev.RunFinished(self.step, self.epoch + 1, seconds))
            self._set_state(ev.FINISHED, "all steps done")
            return
        self._set_state(ev.STOPPED, stop.reason)
        if problem:
            self._refuse(stop, f"stopped at step {self.step}, but the checkpoint was not saved: {problem}")
        else:
            self._done(stop, f"stopped at step {self.step}" + (f"; checkpoint {checkpoint}" if checkpoint else ""))

    def _setup(self) -> None:
        config = self.config
        self.device = resolve_device(config.device)
        if config.device == "auto" and self.device.type == "cpu" and cuda_unusable():  # issue 17: never silently
            self._alert("warning", f"training on the CPU: this torch has CUDA but cannot use it ({cuda_unusable()})")
        if self.device.type == "cpu" and config.cpu_threads:
            # Small models (the 2-D toys) run several times faster on one thread than on many.
            torch.set_num_threads(config.cpu_threads)
        if self.cluster is not None:
            self.device = self.cluster.device(self.device)
        channels_last = config.arch != "mlp"
        self.data = load_source(config, self.device, channels_last, self.rank, self.world_size)
        if getattr(self.data, "note", ""):  # issue 17: data kept in host memory, too large for the GPU
            self._alert("info", self.data.note)  # type: ignore[attr-defined]
        payload = None
        if self.resume_from is not None:
            payload = self._resume_payload or load_checkpoint(self.resume_from)
            self._resume_payload = None  # the tensors are copied into the models; free the host copy
        try:
            self._gan = GanStep(config, self.device, channels_last, self.cluster, payload)
        except (RuntimeError, KeyError, ValueError) as exc:
            if payload is None:
                raise
            raise UserError(f"{self.resume_from}: does not fit this configuration ({first_line(exc)})") from None
        if payload is not None:
            self._restore(payload)
        # The config may carry live changes (lr, betas); the optimizers must use them, not the saved groups.
        self.gan.schedule(self.step, self.planned_steps)
        self._write_config()
        self._emit(ev.RunStarted(
            run_dir=str(self.run_dir.path), config=config.to_dict(), device=str(self.device),
            planned_steps=self.planned_steps, steps_per_epoch=self.data.steps_per_epoch,
            start_step=self.step, resumed_from=str(self.resume_from) if self.resume_from else None,
            world_size=self.world_size, device_uuid=device_uuid(self.device),
        ))
        if self._world_note:
            self._alert("warning", self._world_note)

    def _restore(self, payload: dict[str, Any]) -> None:
        """The run's place and RNG states from a checkpoint (the models are the step's)."""
        self.step, self.epoch, self.batch = int(payload["step"]), int(payload["epoch"]), int(payload["batch"])
        self._last_stats = dict(payload.get("losses", {}))
        saved_world = int(payload.get("world_size", 1))
        if saved_world == self.world_size:
            restore_rng(payload["rank_rng"][self.rank] if saved_world > 1 else payload["rng"])
        else:
            # Keep the place in the epoch by images seen; the shards and noise streams are new.
            self.batch = self.batch * saved_world // self.world_size
            torch.manual_seed(self.config.seed + self.rank + 7_919 * self.step)
            self._world_note = (
                f"resumed a {saved_world}-process checkpoint with {self.world_size} process(es): training "
                "goes on, but not exactly as the run would have (other data shards and noise)")

    def _write_config(self) -> None:
        self.writer.config(self.config)

    # -- the loop ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        gan, data = self.gan, self.data
        assert data is not None
        self._set_state(ev.RUNNING, "resumed" if self.resume_from else "started")
        batch_size = self.config.batch_size * self.world_size  # images/s of the whole run
        # issue 17: the step's numbers stay on the device until `log` is read
        log = StepLog(parse_every(self.config.log_every), fixed_steps=self.cluster is not None)
        rate = 0.0
        while self.step < self.planned_steps and self.epoch < self.config.epochs:
            epoch_started = time.monotonic()
            sum_d = sum_g = 0.0  # plain floats: no tensor allocated per step
            trained = 0
            for real in data.batches(self.epoch, self.batch):
                if not self._handle_commands() or self.step >= self.planned_steps:
                    return
                if self.config.lr_decay != "none":
                    gan.schedule(self.step, self.planned_steps)
                t0 = time.perf_counter()
                log.add(gan.device_step(real, self.step + 1), time.perf_counter() - t0)
                self.step += 1
                self.batch += 1
                trained += 1
                if not (log.due() or self._read_now(data.steps_per_epoch)):
                    continue
                logged = self._read(log)
                window = batch_size * logged.steps / max(logged.seconds, 1e-9)
                weight = min(1.0, 0.1 * logged.steps)  # per step as before; a long window stands alone
                rate = window if rate == 0.0 else (1 - weight) * rate + weight * window
                sum_d, sum_g = sum_d + logged.means[0] * logged.steps, sum_g + logged.means[1] * logged.steps
                self._after_step(logged, rate)
                if self._stop is not None or self._state == ev.FAILED:
                    return
            if self.batch >= data.steps_per_epoch:
                n = max(trained, 1)
                self._emit(ev.EpochEnded(self.epoch + 1, self.step, sum_d / n, sum_g / n,
                                         time.monotonic() - epoch_started))
                self.epoch += 1
                self.batch = 0

    def _read_now(self, steps_per_epoch: int) -> bool:
        """Whether this step must be read before log_every says so: the run or epoch ends, a sample,
        metric or checkpoint follows (never of non-finite weights unseen), or a command waits."""
        c, step = self.config, self.step
        return (step >= self.planned_steps or self.batch >= steps_per_epoch
                or any(every and step % every == 0 for every in (c.sample_every, c.eval_every, c.checkpoint_every))
                or (self.cluster is None and not self._commands.empty()))  # ranks must read at the same steps

    def _read(self, log: StepLog) -> Logged:
        """The numbers since the last reading; in a cluster the mean over ranks (one verdict on NaN)."""
        logged = log.take()
        if self.cluster is not None:
            shared = self.cluster.mean([*logged.means, *logged.last, logged.seconds / logged.steps])
            logged = Logged(shared[:4], shared[4:8], logged.steps, logged.seconds)
            log.retune(shared[8])
        return logged

    def _after_step(self, logged: Logged, rate: float) -> None:
        loss_d, loss_g, d_x, d_g_z = logged.means
        self._last_stats = {"loss_d": logged.last[0], "loss_g": logged.last[1]}
        lr_g, lr_d = self.gan.lrs
        memory, peak = device_memory(self.device)
        self._emit(ev.StepMetrics(
            step=self.step, epoch=self.epoch + 1, batch=self.batch, loss_d=loss_d, loss_g=loss_g,
            d_x=d_x, d_g_z=d_g_z, lr_g=lr_g, lr_d=lr_d, img_per_s=rate, steps=logged.steps,
            last_loss_d=logged.last[0], last_loss_g=logged.last[1], last_d_x=logged.last[2],
            last_d_g_z=logged.last[3], memory=memory, peak_memory=peak,
        ))
        # A mean over the steps is non-finite when any of them was: NaN pauses ≤ log_every steps late.
        if not all(math.isfinite(v) for v in logged.means + logged.last):
            message = (f"loss is not finite at step {self.step} (loss_d={logged.last[0]}, loss_g={logged.last[1]}); "
                       "lower the learning rates or resume from an earlier checkpoint")
            self._alert("error", message)
            if self.config.on_nan == "stop":
                self._fail(message)
                return
            self._set_state(ev.PAUSED, "non-finite loss")
        config = self.config
        if config.sample_every and self.step % config.sample_every == 0:
            self._save_samples_quietly()
        if config.eval_every and self.step % config.eval_every == 0:
            if self.writer.enabled:
                self._evaluate()  # metrics are for the record: computed where it is kept
            if self.cluster is not None and self.cluster.wait_for_rank0("off" if not self.config.eval_every else ""):
                self.config = self.config.replace(eval_every=0)  # issue 17: metrics went off on rank 0
        if config.checkpoint_every and self.step % config.checkpoint_every == 0:
            with contextlib.suppress(WriteFailed):  # alerted; training goes on
                self._save_checkpoint("periodic")
        if time.monotonic() - self._last_status > STATUS_INTERVAL_S:
            self._write_status()

    # -- commands ------------------------------------------------------------------------------------

    def _handle_commands(self) -> bool:
        """Apply queued commands; while paused, wait here. False when the run must end.

        In a cluster every rank applies rank 0's commands at the same step; while paused, rank 0
        sends an empty list every PAUSE_POLL_S: a heartbeat that keeps the ranks in step, never
        timing out."""
        while True:
            commands = self._drain_commands()
            if self.cluster is not None:  # rank 0's commands, on every rank
                shared = self.cluster.share_commands([cmd.to_json(c) for c in commands])
                commands = [cmd.from_json(data) for data in shared]
            for command in commands:
                self._apply(command)
                if self._stop is not None:
                    return False
            if self._state != ev.PAUSED:
                return True

    def _drain_commands(self) -> list[cmd.Command]:
        commands = []
        try:
            if self._state == ev.PAUSED:
                commands.append(self._commands.get(timeout=PAUSE_POLL_S))
            while True:
                commands.append(self._commands.get_nowait())
        except queue.Empty:
            return commands

    def _refuse_pending(self, reason: str) -> None:
        """Answer the commands that came too late to be handled."""
        for command in self._drain_commands():
            self._refuse(command, reason)

    def _done(self, command: cmd.Command, detail: str) -> None:
        self._emit(ev.CommandDone(command.id, command.kind, detail, self.step))

    def _refuse(self, command: cmd.Command, reason: str) -> None:
        self._emit(ev.CommandRefused(command.id, command.kind, reason, self.step))

    def _apply(self, command: cmd.Command) -> None:
        """Carry out one command and answer it (a stop is answered once the run has stopped)."""
        try:
            detail = self._carry_out(command)
        except Refused as exc:
            self._alert("warning", f"refused {command.kind}: {exc}")
            self._refuse(command, str(exc))
        except WriteFailed as exc:  # alerted where it failed
            self._refuse(command, f"could not write {exc.path}: {exc.reason}")
        else:
            if detail is not None:
                self._done(command, detail)

    def _carry_out(self, command: cmd.Command) -> str | None:
        if isinstance(command, cmd.Pause):
            if self._state == ev.PAUSED:
                self._alert("info", "already paused")
                return "already paused"
            self._set_state(ev.PAUSED, "pause requested")
            return f"paused at step {self.step}"
        if isinstance(command, cmd.Resume):
            if self._state != ev.PAUSED:
                self._alert("info", "not paused")
                return "not paused"
            self._set_state(ev.RUNNING, "resume requested")
            return f"running from step {self.step}"
        if isinstance(command, cmd.Stop):
            self._stop = command
            self._set_state(ev.STOPPING, command.reason)
            return None
        if isinstance(command, cmd.SetHyperparams):
            return self._set_hyperparams(command.changes)
        if isinstance(command, cmd.SaveCheckpoint):
            return _saved("checkpoint", self._save_checkpoint("manual"))
        if isinstance(command, cmd.SampleNow):
            return _saved("samples", self._save_samples())
        raise Refused(f"unknown command {command!r}")

    def _set_hyperparams(self, changes: dict[str, Any]) -> str:
        try:
            new = live_change(self.config, changes)
        except ConfigError as exc:
            raise Refused(str(exc)) from None
        self.config = new
        self.gan.configure(new, self.step, self.planned_steps)
        try:
            self._write_config()
        except WriteFailed as exc:
            self._alert("warning", f"could not update {exc}")
        values = {k: getattr(new, k) for k in changes}
        self._emit(ev.HparamsChanged(values, self.step))
        return f"changed at step {self.step}: " + ", ".join(f"{k}={v}" for k, v in values.items())

    # -- samples and checkpoints -------------------------------------------------------------------

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that draws samples and is scored: the moving average when g_ema is on."""
        return self.gan.sampler

    def _save_samples(self) -> Path | None:
        """Save the fixed-noise grid of this step (once a step); its path. Raises WriteFailed after
        an alert when it could not be written."""
        if self._sampled is not None and self._sampled[0] == self.step:
            return self._sampled[1]
        gan = self.gan
        try:
            path = self.writer.samples(self.step, lambda: samples_picture(gan.samples(), self.config.dataset))
        except WriteFailed as exc:
            self._alert("error", f"could not save samples to {exc.path}: {exc.reason}")
            raise
        self._sampled = (self.step, path)
        if path is not None:
            self._emit(ev.SamplesSaved(self.step, self.epoch + 1, str(path)))
        return path

    def _save_samples_quietly(self) -> None:
        with contextlib.suppress(WriteFailed):  # alerted; training goes on
            self._save_samples()

    def _evaluate(self) -> None:
        """Score the generator inline: training waits exactly as long as the evaluation takes."""
        from core.evaluate import Evaluator

        started = time.monotonic()
        try:
            if self._evaluator is None:
                self._evaluator = Evaluator(self.config)
                if self._evaluator.kind == "digits":
                    self._alert("info", "preparing metrics: the digit classifier trains once, then is cached")
            self._evaluator.config = self.config  # eval_samples may have changed live
            result = self._evaluator.evaluate(self.sampler, device=self.device)
        except UserError as exc:
            self._alert("warning", f"metrics off: {exc}")
            self.config = self.config.replace(eval_every=0)
            return
        self._last_metrics = dict(result.values)
        self._emit(ev.MetricsComputed(self.step, self.epoch + 1, result.values, result.reference,
                                      result.note, time.monotonic() - started))

    def _checkpoint_payload(self, rank_rng: list[Any] | None) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            **self.gan.state_dict(),
            "rng": capture_rng(),
            "losses": dict(self._last_stats),
            "metrics": dict(self._last_metrics),
            "world_size": self.world_size,
            **({"rank_rng": rank_rng} if rank_rng else {}),  # every rank's RNGs, for an exact resume
        }

    def _save_checkpoint(self, reason: str) -> Path | None:
        """Write a checkpoint; its path (None where this process writes nothing). Raises WriteFailed
        after an alert when it could not be written."""
        rank_rng = self.cluster.gather(capture_rng()) if self.cluster else None  # every rank takes part
        try:
            path = self.writer.checkpoint(lambda: self._checkpoint_payload(rank_rng), reason)
        except WriteFailed as exc:
            self._alert("error", f"checkpoint at step {self.step} not saved: {exc.reason}; "
                                 "training goes on, earlier checkpoints are untouched")
            raise
        if path is None:
            return None
        self._emit(ev.CheckpointSaved(self.step, self.epoch + 1, str(path), reason))
        if reason == "periodic":
            for gone in self.writer.prune(self.config.keep_checkpoints):
                self._alert("info", f"removed old checkpoint {gone.name}")
        return path
