"""Checking hyperparameter text typed in the app, with the same rules the trainer applies."""

from __future__ import annotations

from typing import Any

from core.config import FIELDS, _check, parse_value  # _check: the one source of the range rules
from core.errors import ConfigError

# What the form edits live, in the order shown.
EDITABLE = ("lr_g", "lr_d", "beta1", "beta2", "sample_every", "checkpoint_every", "eval_every")
INTERVALS = ("sample_every", "checkpoint_every", "eval_every")  # steps between events, 0 = off
# Shown read-only: the trainer takes them only at start (new models, new data, or the lr schedule).
RESTART_ONLY = (
    "lr_decay",
    "batch_size",
    "width",
    "latent_dim",
    "loss",
    "spectral_norm",
    "g_ema",
    "precision",
    "g_output_conv",
    "augment",
    "dataset",
    "arch",
)
# The config allows any step count; a form value beyond this is a typo, not a plan.
MAX_INTERVAL = 10_000_000


def check_value(key: str, text: str) -> Any:
    """The typed value of `text` for field `key`; raises ConfigError saying why it is not allowed."""
    if not text.strip():
        raise ConfigError(f"{key}: a value is required")
    value = parse_value(key, text)
    value = _check(key, FIELDS[key], value)
    if key in INTERVALS and value > MAX_INTERVAL:
        raise ConfigError(f"{key}: {value} is too large; at most {MAX_INTERVAL:,} steps")
    return value


def changed_values(current: dict[str, Any], texts: dict[str, str]) -> dict[str, Any]:
    """The checked values of `texts` that differ from `current`; raises ConfigError on the first bad one."""
    changes = {}
    for key, text in texts.items():
        value = check_value(key, text)
        if current.get(key) != value:
            changes[key] = value
    return changes
