"""Events the trainer emits: frozen dataclasses named as facts, each one JSON object."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Run states, in the order a run normally passes through them.
STARTING, RUNNING, PAUSED, STOPPING = "starting", "running", "paused", "stopping"
STOPPED, FINISHED, FAILED = "stopped", "finished", "failed"
FINAL_STATES = (STOPPED, FINISHED, FAILED)


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Event:
    """Base of all events; `time` is the wall clock when it happened."""

    kind: ClassVar[str] = "event"


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_dir: str
    config: dict[str, Any]
    device: str
    planned_steps: int
    steps_per_epoch: int
    start_step: int = 0
    resumed_from: str | None = None
    world_size: int = 1
    plan_note: str = ""  # a resume that changed the plan says how ("400 → 513 epochs, …")
    time: float = field(default_factory=_now)
    # a CUDA device's NVML UUID: its index there may differ (issue 17)
    device_uuid: str | None = None


@dataclass(frozen=True)
class StepMetrics(Event):
    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    batch: int
    loss_d: float
    loss_g: float
    d_x: float
    d_g_z: float
    lr_g: float
    lr_d: float
    img_per_s: float
    time: float = field(default_factory=_now)
    # issue 17: loss_d, loss_g, d_x and d_g_z are the means over the `steps` steps up to `step`
    # (1 = step `step` alone, as before log_every); last_* are step `step`'s own values.
    steps: int = 1
    last_loss_d: float | None = None
    last_loss_g: float | None = None
    last_d_x: float | None = None
    last_d_g_z: float | None = None
    # CUDA only: the device's memory allocated by torch now and at its peak, in bytes.
    memory: int | None = None
    peak_memory: int | None = None


@dataclass(frozen=True)
class EpochEnded(Event):
    kind: ClassVar[str] = "epoch_ended"
    epoch: int
    step: int
    loss_d: float
    loss_g: float
    seconds: float
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class SamplesSaved(Event):
    kind: ClassVar[str] = "samples_saved"
    step: int
    epoch: int
    path: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class MetricsComputed(Event):
    """Sample-quality metrics of the generator at `step`, with the same metrics on real data."""

    kind: ClassVar[str] = "metrics"
    step: int
    epoch: int
    values: dict[str, float]
    reference: dict[str, float]
    note: str = ""
    seconds: float = 0.0
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint_saved"
    step: int
    epoch: int
    path: str
    reason: str  # periodic, manual, final, signal
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class StateChanged(Event):
    kind: ClassVar[str] = "state_changed"
    state: str
    reason: str = ""
    step: int = 0
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class HparamsChanged(Event):
    kind: ClassVar[str] = "hparams_changed"
    changes: dict[str, Any]
    step: int
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class Alert(Event):
    kind: ClassVar[str] = "alert"
    level: str  # info, warning, error
    message: str
    step: int = 0
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class ImagesDecoded(Event):
    """Start-up progress: `done` of `total` image files decoded (issue 18)."""

    kind: ClassVar[str] = "images_decoded"
    done: int
    total: int
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    step: int
    epoch: int
    seconds: float
    start_step: int = 0  # where this process began: step - start_step steps were trained by it
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class RunFailed(Event):
    kind: ClassVar[str] = "run_failed"
    message: str
    step: int = 0
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class CommandDone(Event):
    """The trainer carried out command `id` (of kind `command`); `detail` says what came of it."""

    kind: ClassVar[str] = "command_done"
    id: str
    command: str
    detail: str
    step: int = 0
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class CommandRefused(Event):
    """The trainer did not carry out command `id` (of kind `command`), for `reason`."""

    kind: ClassVar[str] = "command_refused"
    id: str
    command: str
    reason: str
    step: int = 0
    time: float = field(default_factory=_now)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        StepMetrics,
        EpochEnded,
        SamplesSaved,
        MetricsComputed,
        CheckpointSaved,
        StateChanged,
        HparamsChanged,
        Alert,
        ImagesDecoded,
        RunFinished,
        RunFailed,
        CommandDone,
        CommandRefused,
    )
}


def to_json(event: Event) -> dict[str, Any]:
    """The event as one JSON-ready dict with its `kind`."""
    return {
        "kind": event.kind,
        **{f.name: getattr(event, f.name) for f in dataclasses.fields(event)},
    }


def from_json(data: dict[str, Any]) -> Event:
    """Rebuild an event from `to_json` output; unknown kinds or fields raise ValueError."""
    data = dict(data)
    kind = data.pop("kind", None)
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ValueError(f"bad {kind} event: {exc}") from None
