"""Which metrics each kind of data set gets and which way each improves: what keep_best judges by
and what the views mark as best. Plain data, no torch, so commands that only read runs can use it."""

from __future__ import annotations

# The metrics each kind of data set is scored with (`metric_kind`), main first.
KIND_METRICS = {
    "toy": ("modes", "high_quality", "reverse_kl"),
    "digits": ("fid_digits", "classes", "class_kl", "confidence"),
    "images": ("fid", "kid"),
}
# Which way each metric improves: True where a higher value is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "modes": True,
    "high_quality": True,
    "reverse_kl": False,
    "fid_digits": False,
    "classes": True,
    "class_kl": False,
    "confidence": True,
    "fid": False,
    "kid": False,
}


def is_better(metric: str, new: float, old: float) -> bool:
    """Whether `new` strictly improves on `old` by `metric`'s own direction (a tie keeps the old)."""
    return new > old if HIGHER_IS_BETTER[metric] else new < old
