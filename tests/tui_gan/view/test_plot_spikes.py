"""Downsampling keeps each column's spread: a one-step spike in a million points is never averaged away."""

from __future__ import annotations

import numpy as np

from tui_gan.view.plotdata import band_path, bucket_stats, downsample

N = 1_000_000
SPIKE_AT, SPIKE = 654_321, 1e3


def spiky() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(1, N + 1, dtype=float)
    y = 1.0 + 0.01 * np.sin(x / 5000)
    y[SPIKE_AT] = SPIKE
    return x, y


def test_one_spike_in_a_million_points_is_in_its_bucket_max():
    x, y = spiky()
    b = bucket_stats(x, y, 70)
    assert b.merged and len(b.x) == 70
    where = int(np.argmax(b.high))
    assert b.high[where] == SPIKE
    assert b.x[where] - 7_200 < x[SPIKE_AT] < b.x[where] + 7_200  # the column holding that step
    # the mean of that column hardly moves: a mean-only plot would lose the spike
    assert b.mean[where] < 1.2
    assert (b.low <= b.mean).all() and (b.mean <= b.high).all()
    assert np.delete(b.high, where).max() < 1.02
    # the plain downsample is the same means
    dx, dy = downsample(x, y, 70)
    assert np.array_equal(dx, b.x) and np.array_equal(dy, b.mean)


def test_spread_leaves_out_undrawable_values():
    x, y = spiky()
    y[::3] = np.nan
    y[1::7] = np.inf
    y[SPIKE_AT] = SPIKE
    y[SPIKE_AT + 1] = -5.0  # drawn on a linear scale, left out on a log one
    linear, log = bucket_stats(x, y, 50), bucket_stats(x, y, 50, log=True)
    assert linear.high.max() == log.high.max() == SPIKE
    assert linear.low.min() == -5.0 and log.low.min() > 0
    assert np.isfinite(linear.low).all() and np.isfinite(linear.high).all()


def test_few_points_are_not_merged():
    b = bucket_stats(np.arange(5.0), np.array([1, np.nan, 3, 4, 5.0]), 80)
    assert not b.merged
    assert b.low.tolist() == b.mean.tolist() == b.high.tolist() == [1, 3, 4, 5]


def test_band_path_visits_every_low_and_high_column_by_column():
    x = np.array([10.0, 20, 30, 40])
    low, high = np.array([0.0, 1, 2, 3]), np.array([5.0, 6, 7, 8])
    xs, ys = band_path(x, low, high)
    assert xs == [10, 10, 20, 20, 30, 30, 40, 40]
    # up, down, up, down: neighbours join high to high and low to low, inside the band
    assert ys == [0, 5, 6, 1, 2, 7, 8, 3]
