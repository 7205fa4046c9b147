"""A run's plan: how many steps it trains, and how a resume extends it without traps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from core.data import load_source
from core.errors import UsageError

if TYPE_CHECKING:
    from core.config import TrainConfig

COSINE_FLOOR = 0.05  # lr_decay=cosine ends at this share of the configured lr


class NothingToTrain(UsageError):
    """A resume whose plan ends at or before the checkpoint's step: it would train no step."""


def planned_steps(epochs: int, max_steps: int | None, steps_per_epoch: int) -> int:
    """Total steps of a plan: `epochs` whole epochs, cut at `max_steps` when that is set."""
    total = epochs * steps_per_epoch
    return min(total, max_steps) if max_steps else total


def lr_factor(decay: str, step: int, planned_steps: int) -> float:
    """The share of the configured lr in force at `step`: a function of the step alone, so a live lr
    change rescales the whole schedule and a resumed run continues it exactly."""
    if decay == "none":
        return 1.0
    progress = min(step / max(planned_steps, 1), 1.0)
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def steps_per_epoch_of(step: int, epoch: int, batch: int) -> int | None:
    """Steps per epoch read off a checkpoint's place (step = epoch · spe + batch), None in epoch 1."""
    return (step - batch) // epoch if epoch > 0 else None


def shown_epoch(epoch: int, batch: int) -> int:
    """The 1-based epoch to show for a place (`epoch` 0-based in progress, `batch` batches into it):
    the one in progress, or the last one ended while the next has not begun (400/400, never 401)."""
    return epoch if epoch > 0 and batch == 0 else epoch + 1


@dataclass(frozen=True)
class Extension:
    """What a resume changes in the plan: config overrides and the line that says so ("" if none)."""

    overrides: dict[str, Any] = field(default_factory=dict)
    line: str = ""


@dataclass(frozen=True)
class PlanRequest:
    """What a resume asks to train: new totals (`max_steps`, `epochs`) or amounts beyond its step."""

    max_steps: int | None = None
    epochs: int | None = None
    more_steps: int | None = None
    more_epochs: int | None = None


def extend_plan(config: Any, step: int, steps_per_epoch: int, request: PlanRequest) -> Extension:
    """The plan of a run resumed at `step` with the totals or extra amounts the user asked for.

    Raising one total past the other raises the other with it, so the run trains to the total the
    user raised; a plan that trains no step is refused (NothingToTrain) before anything starts.
    """
    max_steps, epochs = request.max_steps, request.epochs
    if request.more_steps is not None:
        max_steps = step + request.more_steps
    elif request.more_epochs is not None:
        max_steps = step + request.more_epochs * steps_per_epoch
    old_epochs, old_max = config.epochs, config.max_steps
    new_epochs = old_epochs if epochs is None else epochs
    new_max = old_max if max_steps is None else max_steps
    if max_steps is not None and epochs is None and max_steps > new_epochs * steps_per_epoch:
        new_epochs = math.ceil(max_steps / steps_per_epoch)  # the steps the user raised decide
    if (
        epochs is not None
        and max_steps is None
        and new_max
        and new_max < new_epochs * steps_per_epoch
    ):
        new_max = None  # the epochs the user raised decide
    old_total = planned_steps(old_epochs, old_max, steps_per_epoch)
    new_total = planned_steps(new_epochs, new_max, steps_per_epoch)
    if new_total <= step:
        raise NothingToTrain(
            f"nothing to train: the run is at step {step:,} and its plan ends at step {new_total:,}; "
            "pass --more STEPS or --more-epochs N (or a larger --max-steps/--epochs) to train longer"
        )
    overrides: dict[str, Any] = {}
    if new_epochs != old_epochs:
        overrides["epochs"] = new_epochs
    if new_max != old_max:
        overrides["max_steps"] = new_max
    if not overrides:
        return Extension()
    epochs_part = (
        f"{old_epochs:,} → {new_epochs:,} epochs"
        if new_epochs != old_epochs
        else f"{new_epochs:,} epochs"
    )
    steps_part = (
        f"{old_total:,} → {new_total:,} steps" if new_total != old_total else f"{new_total:,} steps"
    )
    line = f"plan: {epochs_part}, {steps_part}"
    if config.lr_decay != "none" and new_total != old_total:
        before, after = (
            lr_factor(config.lr_decay, step, old_total),
            lr_factor(config.lr_decay, step, new_total),
        )
        line += (
            f"; the {config.lr_decay} lr schedule now ends at step {new_total:,}, so at step {step:,} "
            f"lr_g goes {config.lr_g * before:.3g} → {config.lr_g * after:.3g} "
            f"and lr_d {config.lr_d * before:.3g} → {config.lr_d * after:.3g}"
        )
    return Extension(overrides, line)


def checkpoint_steps_per_epoch(
    payload: dict[str, Any], config: TrainConfig, world_size: int
) -> int:
    """Steps an epoch of a resumed run: saved in the checkpoint, read off its place, or counted."""
    same_world = payload.get("world_size", 1) == world_size
    saved = payload.get("steps_per_epoch")
    if same_world and isinstance(saved, int) and saved > 0:
        return saved
    derived = (
        steps_per_epoch_of(payload["step"], payload["epoch"], payload["batch"])
        if same_world
        else None
    )
    if derived:
        return derived
    # an old checkpoint still in its first epoch: count the data set
    return load_source(config, torch.device("cpu"), world=world_size).steps_per_epoch
