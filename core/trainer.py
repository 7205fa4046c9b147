"""The trainer: a GAN training loop in a background thread that emits events and takes commands."""

from __future__ import annotations

import contextlib
import math
import queue
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core import commands as cmd
from core import events as ev
from core.checkpoints import (
    capture_rng,
    load_checkpoint,
    prune_checkpoints,
    remove_stale_temps,
    restore_rng,
    run_dir_of,
    save_checkpoint,
)
from core.config import FIELDS, TrainConfig
from core.data import DataSource, load_source
from core.distributed import Cluster
from core.ema import STAT_BATCHES, MovingAverage
from core.errors import ConfigError, UserError, first_line
from core.grids import samples_picture, save_png
from core.losses import d_loss, g_loss, r1_penalty
from core.models import build_models
from core.rundir import EventLog, RunDir, RunLock, atomic_write, write_status

Subscriber = Callable[[ev.Event], None]

COSINE_FLOOR = 0.05  # lr_decay=cosine ends at this share of the configured lr
# Fields a running trainer can change at the next step; anything else needs a rebuild.
LIVE_FIELDS = frozenset({
    "lr_g", "lr_d", "beta1", "beta2", "label_smoothing", "label_noise", "d_steps", "r1_gamma",
    "sample_every", "checkpoint_every", "keep_checkpoints", "on_nan", "max_steps", "epochs",
    "eval_every", "eval_samples",
})
STATUS_INTERVAL_S = 2.0
PAUSE_POLL_S = 0.1


def resolve_device(name: str) -> torch.device:
    """`auto` → the first CUDA device if there is one, else the CPU; a missing GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name!r} requested but no CUDA device is available; use device=cpu")
        if (device.index or 0) >= torch.cuda.device_count():
            raise ConfigError(f"device: {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    return device


class Trainer:
    """Trains one GAN run in a background thread.

    `start()` returns at once; `send()` queues a command (handled at the next step boundary, also
    while paused); `subscribe()` adds an event sink called on the training thread, which must not
    block (the UI's sink only enqueues). Every event also goes to `events.jsonl`.
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
        self._log: EventLog | None = None
        self._last_status = 0.0
        self._last_stats: dict[str, float] = {}
        self._resume_payload: dict[str, Any] | None = None
        self._sampled_step = -1
        self._evaluator: Any = None
        self._last_metrics: dict[str, float] = {}
        self.serve_control = True  # the control socket of issue 5; tests of the bare loop may turn it off
        self.control: Any = None
        # Under torchrun: rank 0 alone writes the run directory and serves control; all ranks train.
        self.cluster = Cluster.from_env()
        self.rank = self.cluster.rank if self.cluster else 0
        self.world_size = self.cluster.world_size if self.cluster else 1
        self.writes = self.rank == 0
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

    # -- events ------------------------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        if self._log is not None:
            self._log.write(event)
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
        if not self.writes:
            return
        try:
            write_status(self.run_dir.path, self._state, self.step, self.epoch + 1,
                         **({"error": self.error} if self.error else {}), **self._last_stats)
        except OSError:
            pass  # status.json is a convenience; a full disk is reported by checkpoint alerts

    def _alert(self, level: str, message: str) -> None:
        self._emit(ev.Alert(level, message, self.step))

    # -- life cycle ----------------------------------------------------------------------------------

    def _main(self) -> None:
        started = time.monotonic()
        if self.cluster is not None and not self._join_cluster():
            return
        lock = RunLock(self.run_dir.path)
        locked = False
        # A new run that fails before its first step (missing data, no GPU) leaves no directory behind.
        fresh = self.writes and self.resume_from is None and not self.run_dir.path.exists()
        try:
            if self.writes:
                self.run_dir.create()
                lock.acquire()
                locked = True
                remove_stale_temps(self.run_dir.path)  # left by a writer that was killed mid-checkpoint
                self._log = EventLog(self.run_dir.events)
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
            if self.control is not None:
                self.control.close()  # after the final events, so attached clients receive them
            if self._log is not None:
                self._log.close()
            if locked:
                lock.release()
            bug = (self.run_dir.path / "traceback.txt").exists()
            if fresh and self._state == ev.FAILED and not hasattr(self, "g") and not bug:
                shutil.rmtree(self.run_dir.path, ignore_errors=True)
            if self.cluster is not None:
                self.cluster.close()

    def _join_cluster(self) -> bool:
        """Join the torchrun process group and take rank 0's run directory; False on failure."""
        assert self.cluster is not None
        try:
            self.cluster.start(self.cluster.device(resolve_device(self.config.device)))
            self.run_dir = RunDir(self.cluster.share_text(str(self.run_dir.path)))
        except Exception as exc:  # no run directory is agreed on yet: the error goes to stderr only
            self.error = f"rank {self.rank}: cannot join the distributed run: {type(exc).__name__}: {exc}"
            self._state = ev.FAILED
            self.cluster.close()
            return False
        return True

    def _serve_control(self) -> None:
        """Open the run's control socket (watch/ctl attach there); training goes on without it."""
        if not self.serve_control:
            return
        from core.control import serve

        try:
            self.control = serve(self)
        except (OSError, UserError) as exc:
            self._alert("warning", f"no control endpoint (watch/ctl cannot attach): {exc}")

    def _save_traceback(self) -> str:
        """Keep a bug's traceback in the run directory (printing it would garble the app's screen)."""
        path = self.run_dir.path / "traceback.txt"
        try:
            path.write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            return ""
        return f" (traceback in {path})"

    def _fail(self, message: str) -> None:
        self.error = message
        if self._log is None and self.writes:  # could not even open the run directory
            self._state = ev.FAILED
            return
        self._emit(ev.RunFailed(message, self.step))
        self._set_state(ev.FAILED, message)

    def _finish(self, seconds: float) -> None:
        if self._state == ev.FAILED:
            return
        self._save_samples()
        stop = self._stop
        if stop is None or stop.checkpoint:
            self._save_checkpoint("final" if stop is None else "stop")
        if stop is None:
            self._emit(ev.RunFinished(self.step, self.epoch + 1, seconds))
            self._set_state(ev.FINISHED, "all steps done")
        else:
            self._set_state(ev.STOPPED, stop.reason)

    def _setup(self) -> None:
        config = self.config
        self.device = resolve_device(config.device)
        if self.device.type == "cpu" and config.cpu_threads:
            # Small models (the 2-D toys) run several times faster on one thread than on many.
            torch.set_num_threads(config.cpu_threads)
        if self.cluster is not None:
            self.device = self.cluster.device(self.device)
        self.channels_last = config.arch != "mlp"
        self.data: DataSource = load_source(config, self.device, self.channels_last, self.rank, self.world_size)
        self.g, self.d = build_models(config)
        if self.cluster is not None:
            torch.manual_seed(config.seed + self.rank)  # the same initial weights, then noise of its own
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self.g.to(self.device, memory_format=memory_format)
        self.d.to(self.device, memory_format=memory_format)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
        noise_gen = torch.Generator().manual_seed(config.seed + 1)  # keeps the training RNG untouched
        self.fixed_noise = torch.randn(config.n_samples, config.latent_dim, generator=noise_gen).to(self.device)
        self.ema = None
        if config.g_ema:
            stat_noise = torch.randn(STAT_BATCHES, config.batch_size, config.latent_dim, generator=noise_gen)
            self.ema = MovingAverage(self.g, config.g_ema, stat_noise.to(self.device))
        if self.resume_from is not None:
            payload = self._resume_payload or load_checkpoint(self.resume_from)
            self._resume_payload = None  # the tensors are copied into the models; free the host copy
            self._restore(payload)
        # What the training step calls: the models themselves, or their DDP wrappers.
        self.train_g, self.train_d = self.g, self.d
        self.d_no_sync: Callable[[], Any] = contextlib.nullcontext
        if self.cluster is not None:
            self.train_g = self.cluster.wrap(self.g, self.device)
            self.train_d = self.cluster.wrap(self.d, self.device)
            self.d_no_sync = self.train_d.no_sync
        self._write_config()
        self._emit(ev.RunStarted(
            run_dir=str(self.run_dir.path), config=config.to_dict(), device=str(self.device),
            planned_steps=self.planned_steps, steps_per_epoch=self.data.steps_per_epoch,
            start_step=self.step, resumed_from=str(self.resume_from) if self.resume_from else None,
            world_size=self.world_size,
        ))
        if self._world_note:
            self._alert("warning", self._world_note)

    @property
    def planned_steps(self) -> int:
        total = self.config.epochs * self.data.steps_per_epoch
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def _write_config(self) -> None:
        if self.writes:
            atomic_write(self.run_dir.config, self.config.to_toml().encode())

    # -- the loop ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        self._set_state(ev.RUNNING, "resumed" if self.resume_from else "started")
        batch_size = self.config.batch_size * self.world_size  # images/s of the whole run
        rate = 0.0
        while self.step < self.planned_steps and self.epoch < self.config.epochs:
            epoch_started = time.monotonic()
            sum_d = sum_g = 0.0  # plain floats: no tensor allocated per step
            trained = 0
            for real in self.data.batches(self.epoch, self.batch):
                if not self._handle_commands() or self.step >= self.planned_steps:
                    return
                if self.config.lr_decay != "none":
                    self._set_optimizer_groups()
                t0 = time.perf_counter()
                stats = self._train_step(real)
                if self.cluster is not None:
                    stats = self.cluster.mean(stats)  # one verdict on NaN for all ranks
                self.step += 1
                self.batch += 1
                if self.ema is not None:
                    self.ema.update(self.g, self.step)
                trained += 1
                dt = time.perf_counter() - t0
                rate = batch_size / dt if rate == 0.0 else 0.9 * rate + 0.1 * (batch_size / dt)
                sum_d, sum_g = sum_d + stats[0], sum_g + stats[1]
                self._after_step(stats, rate)
                if self._stop is not None or self._state == ev.FAILED:
                    return
            if self.batch >= self.data.steps_per_epoch:
                n = max(trained, 1)
                self._emit(ev.EpochEnded(self.epoch + 1, self.step, sum_d / n, sum_g / n,
                                         time.monotonic() - epoch_started))
                self.epoch += 1
                self.batch = 0

    def _train_step(self, real: torch.Tensor) -> list[float]:
        config, n = self.config, real.shape[0]
        for i in range(config.d_steps):
            z = torch.randn(n, config.latent_dim, device=self.device)
            last = i == config.d_steps - 1
            if last:
                fake = self.train_g(z)
            else:
                with torch.no_grad():
                    fake = self.train_g(z)
            self.opt_d.zero_grad(set_to_none=True)
            penalize = config.r1_gamma > 0
            real_in = real.detach().requires_grad_(True) if penalize else real
            real_logits = self.train_d(real_in)
            fake_logits = self.train_d(fake.detach())
            loss_d = d_loss(config.loss, real_logits, fake_logits, config.label_smoothing, config.label_noise)
            # The reported loss_d stays the adversarial part alone.
            penalty = config.r1_gamma / 2 * r1_penalty(real_logits, real_in) if penalize else 0.0
            (loss_d + penalty).backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        with self.d_no_sync():  # D's gradients from G's loss are dropped: never all-reduce them
            gen_logits = self.train_d(fake)
        loss_g = g_loss(config.loss, gen_logits)
        loss_g.backward()
        self.opt_g.step()
        with torch.no_grad():
            summary = torch.stack([
                loss_d.detach(), loss_g.detach(),
                torch.sigmoid(real_logits.detach()).mean(), torch.sigmoid(gen_logits.detach()).mean(),
            ])
        return summary.tolist()  # the one host sync of the step

    def _after_step(self, stats: list[float], rate: float) -> None:
        loss_d, loss_g, d_x, d_g_z = stats
        self._last_stats = {"loss_d": loss_d, "loss_g": loss_g}
        self._emit(ev.StepMetrics(
            step=self.step, epoch=self.epoch + 1, batch=self.batch, loss_d=loss_d, loss_g=loss_g,
            d_x=d_x, d_g_z=d_g_z, lr_g=self.opt_g.param_groups[0]["lr"], lr_d=self.opt_d.param_groups[0]["lr"],
            img_per_s=rate,
        ))
        if not all(v == v and abs(v) != float("inf") for v in stats):
            message = (f"loss is not finite at step {self.step} (loss_d={loss_d}, loss_g={loss_g}); "
                       "lower the learning rates or resume from an earlier checkpoint")
            self._alert("error", message)
            if self.config.on_nan == "stop":
                self._fail(message)
                return
            self._set_state(ev.PAUSED, "non-finite loss")
        config = self.config
        if config.sample_every and self.step % config.sample_every == 0:
            self._save_samples()
        if config.eval_every and self.step % config.eval_every == 0 and self.writes:
            self._evaluate()
        if config.checkpoint_every and self.step % config.checkpoint_every == 0:
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
            if self.cluster is None:
                commands = self._drain_commands()
            else:
                mine = [cmd.to_json(c) for c in self._drain_commands()] if self.rank == 0 else []
                commands = [cmd.from_json(data) for data in self.cluster.share_commands(mine)]
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

    def _apply(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Pause):
            if self._state == ev.PAUSED:
                self._alert("info", "already paused")
            else:
                self._set_state(ev.PAUSED, "pause requested")
        elif isinstance(command, cmd.Resume):
            if self._state != ev.PAUSED:
                self._alert("info", "not paused")
            else:
                self._set_state(ev.RUNNING, "resume requested")
        elif isinstance(command, cmd.Stop):
            self._stop = command
            self._set_state(ev.STOPPING, command.reason)
        elif isinstance(command, cmd.SetHyperparams):
            self._set_hyperparams(command.changes)
        elif isinstance(command, cmd.SaveCheckpoint):
            self._save_checkpoint("manual")
        elif isinstance(command, cmd.SampleNow):
            self._save_samples()
        else:
            self._alert("warning", f"refused: unknown command {command!r}")

    def _set_hyperparams(self, changes: dict[str, Any]) -> None:
        if not changes:
            self._alert("warning", "refused set_hyperparams: no changes given")
            return
        unknown = sorted(k for k in changes if k not in FIELDS)
        if unknown:
            self._alert("warning", f"refused set_hyperparams: unknown field {unknown[0]!r}")
            return
        frozen = sorted(k for k in changes if k not in LIVE_FIELDS)
        if frozen:
            self._alert("warning", f"refused set_hyperparams: {', '.join(frozen)} needs a restart "
                                   f"(live: {', '.join(sorted(LIVE_FIELDS))})")
            return
        try:
            new = self.config.replace(**changes)
        except ConfigError as exc:
            self._alert("warning", f"refused set_hyperparams: {exc}")
            return
        self.config = new
        self._set_optimizer_groups()
        try:
            self._write_config()
        except OSError as exc:
            self._alert("warning", f"could not update {self.run_dir.config}: {exc}")
        self._emit(ev.HparamsChanged({k: getattr(new, k) for k in changes}, self.step))

    # -- samples and checkpoints -------------------------------------------------------------------

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that draws samples and is scored: the moving average when g_ema is on."""
        return self.ema.model if self.ema is not None else self.g

    def _save_samples(self) -> None:
        if not hasattr(self, "g") or self._sampled_step == self.step or not self.writes:
            return
        self._sampled_step = self.step
        sampler = self.sampler
        was_training = sampler.training
        sampler.eval()  # eval: BN uses running stats and no buffer changes, so sampling never alters training
        try:
            with torch.no_grad():
                samples = sampler(self.fixed_noise)
        finally:
            sampler.train(was_training)
        path = self.run_dir.samples / f"step_{self.step:08d}.png"
        try:
            save_png(samples_picture(samples, self.config.dataset), path)
        except OSError as exc:
            self._alert("error", f"could not save samples to {path}: {exc.strerror or exc}")
            return
        self._emit(ev.SamplesSaved(self.step, self.epoch + 1, str(path)))

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

    def _checkpoint_payload(self, rank_rng: list[Any] | None = None) -> dict[str, Any]:
        def cpu(state: dict[str, Any]) -> dict[str, Any]:
            return {k: v.detach().cpu().clone() if torch.is_tensor(v) else v for k, v in state.items()}

        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "generator": cpu(self.g.state_dict()),
            "discriminator": cpu(self.d.state_dict()),
            **({"generator_ema": cpu(self.ema.model.state_dict())} if self.ema is not None else {}),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "fixed_noise": self.fixed_noise.detach().cpu().clone(),
            "rng": capture_rng(),
            "losses": dict(self._last_stats),
            "metrics": dict(self._last_metrics),
            "world_size": self.world_size,
            **({"rank_rng": rank_rng} if rank_rng else {}),  # every rank's RNGs, for an exact resume
        }

    def _save_checkpoint(self, reason: str) -> None:
        if not hasattr(self, "g"):
            return
        rank_rng = self.cluster.gather(capture_rng()) if self.cluster else None  # every rank takes part
        if not self.writes:
            return
        try:
            path = save_checkpoint(self.run_dir.path, self._checkpoint_payload(rank_rng), reason)
        except OSError as exc:
            self._alert("error", f"checkpoint at step {self.step} not saved: {exc.strerror or exc}; "
                                 "training goes on, earlier checkpoints are untouched")
            return
        self._emit(ev.CheckpointSaved(self.step, self.epoch + 1, str(path), reason))
        if reason == "periodic":
            for gone in prune_checkpoints(self.run_dir.path, self.config.keep_checkpoints):
                self._alert("info", f"removed old checkpoint {gone.name}")

    def _restore(self, payload: dict[str, Any]) -> None:
        try:
            self.g.load_state_dict(payload["generator"])
            if self.ema is not None:  # a checkpoint from before g_ema was on starts the average at G
                self.ema.load_state_dict(payload.get("generator_ema", payload["generator"]))
            self.d.load_state_dict(payload["discriminator"])
            self.opt_g.load_state_dict(payload["opt_g"])
            self.opt_d.load_state_dict(payload["opt_d"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise UserError(f"{self.resume_from}: does not fit this configuration ({first_line(exc)})") from None
        self.fixed_noise = payload["fixed_noise"].to(self.device)
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
        # The config may carry live changes (lr, betas); the optimizers must use them, not the saved groups.
        self._set_optimizer_groups()

    def _set_optimizer_groups(self) -> None:
        """The config's lr (times the decay factor of this step) and betas into both optimizers."""
        c = self.config
        factor = lr_factor(c.lr_decay, self.step, self.planned_steps)
        for opt, lr in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr * factor, (c.beta1, c.beta2)


def lr_factor(decay: str, step: int, planned_steps: int) -> float:
    """The share of the configured lr in force at `step`: a function of the step alone, so a live lr
    change rescales the whole schedule and a resumed run continues it exactly."""
    if decay == "none":
        return 1.0
    progress = min(step / max(planned_steps, 1), 1.0)
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))
