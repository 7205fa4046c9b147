"""tui-gan's engine: configuration, data, models, the background trainer, checkpoints and export."""

from core.config import TrainConfig
from core.errors import CheckpointError, ConfigError, DataError, UserError
from core.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "UserError", "ConfigError", "DataError", "CheckpointError"]
