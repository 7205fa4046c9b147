"""The Textual-free view: history, downsampling, EMA, run view, half blocks, form checks."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from core import events as ev
from core.config import FIELDS
from core.errors import ConfigError
from tests.fakes import CONFIG, T0, sample_png, started, steps
from tui_gan.view.halfblock import fit_size, halfblock_lines
from tui_gan.view.history import MetricHistory
from tui_gan.view.hparams import changed_values, check_value
from tui_gan.view.plotdata import downsample, ema, finite_range, valid_mask
from tui_gan.view.runview import LOG, PLOTS, PROGRESS, RunView, format_duration, format_number


def test_history_grows_by_doubling_and_keeps_rows():
    h = MetricHistory(capacity=16)
    for i in range(5):
        h.extend(np.arange(i * 100, i * 100 + 100, dtype=float).repeat(5).reshape(100, 5))
    assert len(h) == 500
    assert h._data.shape[1] == 512
    assert h.column("step")[0] == 0 and h.column("step")[-1] == 499
    assert h.since_step(450) == slice(450, 500)
    with pytest.raises(ValueError):
        h.column("step")[0] = 1  # views are read-only


def test_history_million_steps_is_fast():
    h = MetricHistory()
    block = np.ones((10_000, 5))
    start = time.perf_counter()
    for i in range(100):
        block[:, 0] = np.arange(i * 10_000, (i + 1) * 10_000)
        h.extend(block)
    assert len(h) == 1_000_000
    assert time.perf_counter() - start < 1.0


def test_downsample_bounds_points_and_drops_bad_values():
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 1000)
    y[::7] = np.nan
    y[::11] = np.inf
    start = time.perf_counter()
    xs, ys = downsample(x, y, 80)
    assert time.perf_counter() - start < 0.5
    assert len(xs) == len(ys) == 80
    assert np.isfinite(ys).all() and np.isfinite(xs).all()


def test_downsample_log_scale_leaves_out_non_positive():
    x = np.arange(10, dtype=float)
    y = np.array([1, 0, -1, 2, np.nan, 3, np.inf, -np.inf, 4, 5], float)
    xs, ys = downsample(x, y, 100, log=True)
    assert ys.tolist() == [1, 2, 3, 4, 5]
    assert xs.tolist() == [0, 3, 5, 8, 9]
    assert valid_mask(y, log=False).sum() == 7


def test_downsample_all_bad_gives_nothing():
    xs, ys = downsample(np.arange(1000.0), np.full(1000, np.nan), 50)
    assert len(xs) == len(ys) == 0
    assert finite_range(ys) is None


def test_ema_smooths_and_is_debiased():
    y = np.array([1.0, 1.0, 1.0, 5.0])
    assert ema(y, 0.0).tolist() == y.tolist()
    out = ema(y, 0.9)
    assert out[0] == pytest.approx(1.0)  # debiased: starts on the data, not at 0
    assert 1.0 < out[-1] < 5.0
    assert ema(np.array([]), 0.9).size == 0


def test_run_view_folds_events_in_order(tmp_path):
    view = RunView()
    png = sample_png(tmp_path / "samples" / "step_00000100.png")
    changed = view.apply(
        [*started(tmp_path), *steps(1, 100), ev.SamplesSaved(100, 2, str(png), time=T0 + 2)]
    )
    assert {PROGRESS, PLOTS, LOG} <= changed
    assert view.step == 100 and len(view.history) == 100
    assert view.planned_steps == 1950 and view.config["batch_size"] == 64
    assert view.elapsed == pytest.approx(100 * 0.05)
    assert view.eta == pytest.approx((1950 - 100) * 64 / 1280.0)
    assert view.sample_path and view.sample_path.endswith("step_00000100.png")
    view.apply([ev.HparamsChanged({"lr_g": 1e-4}, 100, time=T0 + 10)])
    assert view.config["lr_g"] == 1e-4 and view.lr_g == 1e-4
    assert view.log[-1].notify


def test_a_resume_after_a_crash_supersedes_the_steps_logged_past_its_checkpoint(tmp_path):
    # events.jsonl of a run that crashed at step 130 and resumed from its checkpoint at step 100
    crashed = [
        *started(tmp_path),
        *steps(1, 130),
        ev.MetricsComputed(100, 2, {"modes": 3.0}, {}),
        ev.MetricsComputed(120, 2, {"modes": 4.0}, {}),
    ]
    resumed = ev.RunStarted(
        str(tmp_path), CONFIG, "cpu", 1950, 78, start_step=100, resumed_from="ck.pt", time=T0 + 9
    )
    view = RunView()
    view.apply([*crashed, resumed, *steps(101, 140)])
    step_column = view.history.column("step")
    assert list(step_column) == list(range(1, 141))  # once each, in order: the plots draw one line
    assert list(view.metrics.column("step")) == [100.0] and view.step == 140


def test_run_view_final_states_say_what_next(tmp_path):
    view = RunView()
    view.apply(
        [
            *started(tmp_path),
            *steps(1, 5),
            ev.RunFailed("boom", 5, time=T0 + 9),
            ev.StateChanged(ev.FAILED, "boom", 5, time=T0 + 9),
        ]
    )
    assert view.final and view.error == "boom"
    assert "failed" in view.next_step_hint().lower()
    assert view.eta is None


def test_run_view_log_keeps_the_last_lines():
    view = RunView()
    view.apply([ev.Alert("warning", f"a{i}", i) for i in range(600)])
    assert len(view.log) == 500 and view.log_total == 600
    assert [line.text for line in view.log_since(598)] == ["a598", "a599"]


def test_formatting():
    assert format_duration(65) == "1m05s" and format_duration(3725) == "1h02m"
    assert format_duration(None) == "--" and format_duration(float("inf")) == "--"
    assert (
        format_number(2e-4) == "2e-04"
        and format_number(0.5) == "0.5"
        and format_number(200) == "200"
    )
    assert (
        format_number(None) == "--"
        and format_number(True) == "true"
        and format_number(False) == "false"
    )


def test_halfblock_fits_and_keeps_aspect():
    assert fit_size(100, 50, 40, 10) == (40, 20)
    assert fit_size(100, 100, 80, 10) == (20, 20)
    img = Image.new("RGB", (8, 8), (255, 0, 0))
    lines = halfblock_lines(img, 4, 2)
    assert len(lines) == 2 and all(len(line) == 4 for line in lines)
    assert lines[0][0].text == "▀" and lines[0][0].style.color.triplet == (255, 0, 0)
    assert halfblock_lines(img, 0, 5) == []


@pytest.mark.parametrize(
    "text", ["abc", "-1", "0", "nan", "inf", "-inf", "1e300", "", "  ", "1e-3e"]
)
def test_bad_learning_rates_are_refused(text):
    with pytest.raises(ConfigError):
        check_value("lr_g", text)


@pytest.mark.parametrize(
    "key,text",
    [
        ("beta1", "1"),
        ("beta2", "1.5"),
        ("sample_every", "2.5"),
        ("sample_every", "-5"),
        ("checkpoint_every", "1e30"),
    ],
)
def test_bad_other_values_are_refused(key, text):
    with pytest.raises(ConfigError):
        check_value(key, text)


def test_changed_values_sends_only_differences():
    texts = {"lr_g": "1e-4", "lr_d": "2e-04", "sample_every": "200"}
    assert changed_values(CONFIG, texts) == {"lr_g": 1e-4}
    assert changed_values(CONFIG, {"lr_g": "0.0002"}) == {}


def test_the_fake_run_config_has_every_config_field():
    # The UI tests replay this config; a field missing here would go untested in the forms.
    assert set(CONFIG) == set(FIELDS)


def test_the_form_edits_live_fields_only_and_shows_the_others_read_only():
    from core.config import LIVE_FIELDS
    from tui_gan.view.hparams import EDITABLE, RESTART_ONLY

    assert set(EDITABLE) <= LIVE_FIELDS  # the trainer would refuse anything else
    assert not set(RESTART_ONLY) & LIVE_FIELDS
    assert {"lr_g", "lr_d", "beta1", "beta2"} <= LIVE_FIELDS and "width" not in LIVE_FIELDS
