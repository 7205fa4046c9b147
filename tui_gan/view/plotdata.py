"""Preparing series for a terminal plot: cleaning, downsampling to the plot width, EMA smoothing."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Smoothing weights offered by the dashboard (TensorBoard-style: weight of the previous value).
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)


def valid_mask(y: np.ndarray, log: bool = False) -> np.ndarray:
    """True where `y` can be drawn: finite, and positive on a log scale."""
    with np.errstate(invalid="ignore"):
        mask: np.ndarray = np.isfinite(y)
        if log:
            mask &= y > 0
    return mask


def downsample(
    x: np.ndarray, y: np.ndarray, buckets: int, log: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """At most `buckets` points: the mean x and mean valid y of equal index ranges.

    Values that cannot be drawn (NaN, inf, non-positive on a log scale) are left out of the means;
    a bucket with none left is dropped. Cost is O(len(y)) in numpy, whatever the plot width.
    """
    b = bucket_stats(x, y, buckets, log)
    return b.x, b.mean


@dataclass(frozen=True)
class Buckets:
    """A series cut to at most a plot's width: per bucket the mean x, and the mean, least and
    greatest valid y (low/high keep a one-point spike that the mean would average away)."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    merged: bool  # whether buckets hold more than one point (else low == mean == high)


def bucket_stats(x: np.ndarray, y: np.ndarray, buckets: int, log: bool = False) -> Buckets:
    """`downsample` with each bucket's minimum and maximum too; O(len(y)) in numpy."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    buckets = max(int(buckets), 1)
    mask = valid_mask(y, log)
    if len(y) <= buckets:
        ys = y[mask]
        return Buckets(x[mask], ys, ys, ys, False)
    edges = np.linspace(0, len(y), buckets + 1).astype(np.int64)[:-1]
    counts = np.add.reduceat(mask.astype(np.int64), edges)
    sums = np.add.reduceat(np.where(mask, y, 0.0), edges)
    xs = np.add.reduceat(np.where(mask, x, 0.0), edges)
    lows = np.minimum.reduceat(np.where(mask, y, np.inf), edges)
    highs = np.maximum.reduceat(np.where(mask, y, -np.inf), edges)
    keep = counts > 0
    n = counts[keep]
    return Buckets(xs[keep] / n, sums[keep] / n, lows[keep], highs[keep], True)


def band_path(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[list[float], list[float]]:
    """One zig-zag line through every bucket's low and high: drawn as a single series, it fills
    each column from its minimum to its maximum (up, across the tops, down, across the bottoms)."""
    xs = np.repeat(np.asarray(x, np.float64), 2)
    ys = np.empty(2 * len(x))
    ys[0::2], ys[1::2] = low, high
    # odd buckets go down: their first point is the high one, so neighbours meet at like ends
    odd = np.arange(len(x)) % 2 == 1
    ys[1::2][odd], ys[0::2][odd] = np.asarray(low)[odd], np.asarray(high)[odd]
    return xs.tolist(), ys.tolist()


def ema(y: np.ndarray, weight: float, points_per_value: float = 1.0) -> np.ndarray:
    """Exponential moving average with `weight` on the past, per original point.

    When `y` holds bucket means of `points_per_value` original points each, the weight is raised to
    that power, so the smoothing looks the same at any zoom level. Debiased, so the first values
    follow the data instead of the starting point.
    """
    y = np.asarray(y, np.float64)
    if weight <= 0 or len(y) == 0:
        return y.copy()
    w = weight ** max(points_per_value, 1.0)
    out = np.empty_like(y)
    acc = norm = 0.0
    for i, value in enumerate(y.tolist()):  # len(y) is bounded by the plot width
        acc = w * acc + (1 - w) * value
        norm = w * norm + (1 - w)  # debiasing (as TensorBoard does): no lag towards 0 at the start
        out[i] = acc / norm
    return out


def finite_range(*series: np.ndarray) -> tuple[float, float] | None:
    """The min and max over all finite values of the series, or None when there are none."""
    lows, highs = [], []
    for s in series:
        s = s[np.isfinite(s)]
        if len(s):
            lows.append(float(s.min()))
            highs.append(float(s.max()))
    if not lows:
        return None
    low, high = min(lows), max(highs)
    if math.isclose(low, high):
        pad = abs(low) * 0.05 or 0.5
        low, high = low - pad, high + pad
    return low, high
