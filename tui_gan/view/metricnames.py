"""Names and number formats of the sample-quality metrics, shared by `tui-gan eval` and the app (no Textual)."""

from __future__ import annotations

import math

from core.metricdirection import HIGHER_IS_BETTER

LABELS = {
    "modes": "modes covered",
    "high_quality": "high-quality samples (%)",
    "reverse_kl": "reverse KL (modes)",
    "fid_digits": "FID (digits)",
    "classes": "classes covered",
    "class_kl": "KL (classes)",
    "confidence": "top-class confidence",
    "fid": "FID (Inception)",
    "kid": "KID (Inception)",
}
# Column headings where a row of the dashboard or a table column has only a few characters.
SHORT = {
    "modes": "modes",
    "high_quality": "HQ %",
    "reverse_kl": "KL",
    "fid_digits": "FID(d)",
    "classes": "classes",
    "class_kl": "KL",
    "confidence": "conf",
    "fid": "FID",
    "kid": "KID",
}
# The metric plotted first: the one that says most about sample quality for its kind of data.
MAIN_ORDER = (
    "fid",
    "fid_digits",
    "modes",
    "kid",
    "classes",
    "high_quality",
    "reverse_kl",
    "class_kl",
    "confidence",
)
HIDDEN = frozenset({"n_modes"})  # the denominator of `modes`, not a metric of its own


# Which way each metric improves: more modes, classes, quality and confidence; less distance and KL.
def direction(key: str) -> int:
    """+1 when a higher value of metric `key` is better, -1 when lower is, 0 when unknown."""
    if key not in HIGHER_IS_BETTER:
        return 0
    return 1 if HIGHER_IS_BETTER[key] else -1


def shown_keys(values: dict[str, float] | list[str]) -> list[str]:
    """The metric keys worth showing, main first, then the rest in their given order."""
    keys = [k for k in values if k not in HIDDEN]
    known = [k for k in MAIN_ORDER if k in keys]
    return known + [k for k in keys if k not in known]


def main_key(values: dict[str, float] | list[str]) -> str | None:
    """The key of the metric to show when only one fits, or None when there are none."""
    keys = shown_keys(values)
    return keys[0] if keys else None


def format_metric(key: str, value: float | None, context: dict[str, float] | None = None) -> str:
    """A value as short as reads well: `8/8` modes, `98.2` %, `12.3` FID, `0.031` KL; `--` when unknown."""
    if value is None:
        return "--"
    if not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if key == "modes" and context and "n_modes" in context:
        return f"{value:.0f}/{context['n_modes']:.0f}"
    if key in ("modes", "classes"):
        return f"{value:.0f}"
    if key == "high_quality":
        return f"{value:.1f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def beside_reference(key: str, values: dict[str, float], reference: dict[str, float]) -> str:
    """`FID (digits): 16.4 (real data 2.48)`: one metric beside the same metric on real data."""
    return (
        f"{LABELS.get(key, key)}: {format_metric(key, values[key], values)} "
        f"(real data {format_metric(key, reference.get(key), reference)})"
    )
