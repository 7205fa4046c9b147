"""keep_best: which checkpoint holds the best evaluation so far, kept in checkpoints/best.json so it
outlives the process (a resumed run goes on from it, and pruning never removes it)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import CheckpointError, ConfigError, UsageError
from core.rundir import RunDir, atomic_write, read_regular

if TYPE_CHECKING:
    from core.config import TrainConfig

BEST_FILE = "best.json"
MAX_BEST_BYTES = 4096


@dataclass(frozen=True)
class Best:
    """The best evaluation so far: its metric, value and step, and the checkpoint file (a name in
    checkpoints/) that holds the weights it scored."""

    metric: str
    value: float
    step: int
    checkpoint: str


def best_path(run_dir: str | Path) -> Path:
    return RunDir(run_dir).checkpoints / BEST_FILE


def read_best(run_dir: str | Path) -> Best | None:
    """The run's best record, or None when it has none (or one that does not parse: a damaged
    record protects nothing, and the next best evaluation rewrites it)."""
    try:
        data = json.loads(read_regular(best_path(run_dir), MAX_BEST_BYTES))
        best = Best(
            str(data["metric"]), float(data["value"]), int(data["step"]), str(data["checkpoint"])
        )
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return None
    if not math.isfinite(best.value) or "/" in best.checkpoint or best.checkpoint.startswith("."):
        return None
    return best


def write_best(run_dir: str | Path, best: Best) -> None:
    """Record `best` atomically (OSError when it cannot be written)."""
    atomic_write(best_path(run_dir), json.dumps(asdict(best)).encode())


def best_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint file of a run's best evaluation, for `--best`; a one-line error when the path
    is no run directory, the run kept no best, or its file is gone."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        if run_dir.exists():
            raise UsageError(
                f"--best takes a run directory (it picks the run's best checkpoint), not the file {run_dir}"
            )
        raise CheckpointError(f"{run_dir}: no such run directory")
    best = read_best(run_dir)
    if best is None:
        raise CheckpointError(
            f"{run_dir}: no best checkpoint recorded (train with keep_best = METRIC and eval_every)"
        )
    path = RunDir(run_dir).checkpoints / best.checkpoint
    if not path.is_file():
        raise CheckpointError(
            f"{run_dir}: the best checkpoint {best.checkpoint} ({best.metric} {best.value:g} at "
            f"step {best.step:,}) is gone"
        )
    return path


def check_keep_best(config: TrainConfig) -> None:
    """ConfigError, in one line, when `keep_best` cannot work for this run: no evaluations, or a
    metric the run does not compute."""
    metric = config.keep_best
    if metric is None:
        return
    from core.metricdirection import HIGHER_IS_BETTER, KIND_METRICS
    from core.metrics import metric_kind

    if not config.eval_every:
        raise ConfigError(
            f"keep_best = {metric!r} needs evaluations to find the best, but eval_every is 0 "
            "(metrics off); set eval_every to a number of steps"
        )
    kind = metric_kind(config.dataset)
    computed = KIND_METRICS[kind]
    if metric not in computed:
        what = (
            "unknown metric"
            if metric not in HIGHER_IS_BETTER
            else "a metric this run does not compute"
        )
        raise ConfigError(
            f"keep_best: {metric!r} is {what}; on {config.dataset} the metrics are "
            f"{', '.join(computed)}"
        )
    if kind == "images" and not (config.inception_weights or config.download):
        raise ConfigError(
            f"keep_best: {metric!r} needs Inception weights: set inception_weights=PATH "
            "(or download=true online)"
        )
