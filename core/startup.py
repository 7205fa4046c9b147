"""Starting a run: joining the torchrun cluster, building device, data and GanStep from a config or a
checkpoint, and the checkpoint payload that lets a later start continue exactly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.checkpoints import capture_rng, load_checkpoint, restore_rng, run_dir_of
from core.config import TrainConfig
from core.data import DataSource, load_source
from core.distributed import Cluster
from core.errors import UserError, first_line
from core.images import Progress
from core.plan import PlanRequest, checkpoint_steps_per_epoch, extend_plan
from core.plugins import PLUGIN_FIELDS, require_named
from core.rundir import RunDir
from core.step import GanStep, cuda_unusable, resolve_device


@dataclass
class Place:
    """Where a run stands: steps done, the 0-based epoch in progress and its batches done."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    losses: dict[str, float] = field(default_factory=dict)


@dataclass
class Start:
    """What a run trains with, what to tell the user before it starts (level, message), and a
    warning when the resume is not exact."""

    device: torch.device
    data: DataSource
    gan: GanStep
    place: Place
    alerts: list[tuple[str, str]]
    note: str = ""


def join_cluster(cluster: Cluster, config: TrainConfig, run_dir: RunDir) -> RunDir:
    """Join the torchrun process group; the run directory rank 0 chose."""
    cluster.start(cluster.device(resolve_device(config.device)))
    return RunDir(cluster.share_text(str(run_dir.path)))


def resumed_config(
    path: Path,
    payload: dict[str, Any],
    overrides: dict[str, Any],
    named: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The config of checkpoint `path` (`payload`: its contents), in the run directory it belongs to,
    with `overrides`; PluginNotNamed when it needs a plug-in neither `named` nor `overrides` names
    (a checkpoint never makes tui-gan import code by itself)."""
    unnamed = [f for f in PLUGIN_FIELDS if f not in overrides]
    require_named(payload["config"], named, str(path), unnamed)
    config = TrainConfig.from_dict(payload["config"])
    run_dir = run_dir_of(path) or (config.run_dir and Path(config.run_dir))
    return config.replace(**{"run_dir": str(run_dir) if run_dir else None, **overrides})


def extended_plan(
    config: TrainConfig, payload: dict[str, Any], world_size: int, plan: PlanRequest | None
) -> tuple[TrainConfig, str]:
    """`config` with the plan `plan` asks for from the checkpoint's step, and the line that says how
    the plan changed (NothingToTrain when it would train no step)."""
    spe = checkpoint_steps_per_epoch(payload, config, world_size)
    extension = extend_plan(config, payload["step"], spe, plan or PlanRequest())
    return config.replace(**extension.overrides), extension.line


def build(
    config: TrainConfig,
    cluster: Cluster | None,
    resume_from: Path | None,
    payload: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Start:
    """Device, data and models for `config`, restored from checkpoint `resume_from` when given
    (`payload`: its contents, when already loaded). UserError when the checkpoint does not fit."""
    device = resolve_device(config.device)
    if device.type == "cpu" and config.cpu_threads:
        # Small models (the 2-D toys) run several times faster on one thread than on many.
        torch.set_num_threads(config.cpu_threads)
    if cluster is not None:
        device = cluster.device(device)
    rank, world_size = (cluster.rank, cluster.world_size) if cluster else (0, 1)
    channels_last = config.arch != "mlp"
    data = load_source(config, device, channels_last, rank, world_size, progress)
    if resume_from is not None and payload is None:
        payload = load_checkpoint(resume_from)
    try:
        gan = GanStep(config, device, channels_last, cluster, payload)
    except (RuntimeError, KeyError, ValueError) as exc:
        if payload is None:
            raise
        raise UserError(
            f"{resume_from}: does not fit this configuration ({first_line(exc)})"
        ) from None
    alerts = []
    if config.device == "auto" and device.type == "cpu" and cuda_unusable():  # never silently
        alerts.append(
            (
                "warning",
                f"training on the CPU: this torch has CUDA but cannot use it ({cuda_unusable()})",
            )
        )
    if data.note:  # data kept in host memory: too large for the GPU
        alerts.append(("info", data.note))
    alerts.extend(data.alerts)  # unreadable images skipped, a cache rebuilt
    if payload is None:
        return Start(device, data, gan, Place(), alerts)
    place, note = restore(payload, config, rank, world_size)
    return Start(device, data, gan, place, alerts, note)


def restore(
    payload: dict[str, Any], config: TrainConfig, rank: int, world_size: int
) -> tuple[Place, str]:
    """The run's place and this rank's RNG states from a checkpoint; a note when the number of
    processes changed (the resume then goes on, but not exactly)."""
    place = Place(
        int(payload["step"]),
        int(payload["epoch"]),
        int(payload["batch"]),
        dict(payload.get("losses", {})),
    )
    saved_world = int(payload.get("world_size", 1))
    if saved_world == world_size:
        restore_rng(payload["rank_rng"][rank] if saved_world > 1 else payload["rng"])
        return place, ""
    # Keep the place in the epoch by images seen; the shards and noise streams are new.
    place.batch = place.batch * saved_world // world_size
    torch.manual_seed(config.seed + rank + 7_919 * place.step)
    return place, (
        f"resumed a {saved_world}-process checkpoint with {world_size} process(es): training "
        "goes on, but not exactly as the run would have (other data shards and noise)"
    )


def checkpoint_payload(
    config: TrainConfig,
    place: Place,
    gan: GanStep,
    metrics: dict[str, float],
    world_size: int,
    rank_rng: list[Any] | None,
    steps_per_epoch: int,
) -> dict[str, Any]:
    """Everything `build` needs to continue the run exactly, as one plain dict."""
    return {
        "config": config.to_dict(),
        "step": place.step,
        "epoch": place.epoch,
        "batch": place.batch,
        **gan.state_dict(),
        "rng": capture_rng(),
        "losses": dict(place.losses),
        "metrics": dict(metrics),
        "world_size": world_size,
        "steps_per_epoch": steps_per_epoch,  # what a resume that extends the plan counts with
        **({"rank_rng": rank_rng} if rank_rng else {}),  # every rank's RNGs, for an exact resume
    }
