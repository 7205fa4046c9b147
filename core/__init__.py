"""tui-gan's engine: configuration, data, models, the background trainer, checkpoints and export."""

from typing import Any

from core.errors import CheckpointError, ConfigError, DataError, UserError

__all__ = ["CheckpointError", "ConfigError", "DataError", "TrainConfig", "Trainer", "UserError"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: `core.trainer` pulls in torch (seconds), which `tui-gan ctl`/`runs` never need.
    if name == "Trainer":
        from core.trainer import Trainer

        return Trainer
    if name == "TrainConfig":
        from core.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'core' has no attribute {name!r}")
