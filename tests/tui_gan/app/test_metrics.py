"""Sample-quality metrics in the app: the plot beside the losses, the latest values with the real-data
reference, notes in the log, eval_every in the form and metrics per checkpoint in the browser."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from core import commands as cmd
from core import events as ev
from tests.fakes import T0, TOY_REFERENCE, FakeSession, fake_checkpoint, mid_training, toy_metrics
from tests.tui_gan.app.pilots import open_browser, open_form, text_of
from tui_gan.app.app import GanApp
from tui_gan.app.widgets.metric_plot import QualityPlot
from tui_gan.app.widgets.metrics_table import MetricsTable
from tui_gan.view.metricnames import format_metric, main_key, shown_keys
from tui_gan.view.runview import RunView

SIZE = (80, 24)
NOTE = "FID/KID need Inception weights: set inception_weights=PATH or download=true online"


def with_metrics(run_dir, upto: int = 400) -> list[ev.Event]:
    events = mid_training(run_dir, upto)
    return [
        *events[:3],
        ev.HparamsChanged({"eval_every": 100}, 1, time=T0 + 1),
        *events[3:],
        *toy_metrics(1, upto),
    ]


async def settle(app: GanApp, pilot) -> None:
    app.poll()
    await pilot.pause()
    app.dashboard.replot()
    await pilot.pause()


async def test_metrics_are_plotted_with_the_real_data_reference(run_dir):
    app = GanApp(FakeSession(run_dir, with_metrics(run_dir)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        plot = app.query_one(QualityPlot)
        assert plot.display and plot.shown_key() == "modes"  # the main metric of a toy data set
        assert plot.points == 4  # one per evaluation (steps 100..400)
        assert plot.reference == TOY_REFERENCE
        table = text_of(app.query_one(MetricsTable))
        assert "6/8" in table and "8/8" in table  # latest value beside the real-data one
        assert "80.0" in table and "99.6" in table
        await pilot.press("m")  # the next metric
        assert plot.shown_key() == "high_quality"
        assert plot.points == 4


async def test_new_metrics_arrive_live(run_dir):
    session = FakeSession(run_dir, with_metrics(run_dir, 200))
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.query_one(QualityPlot).points == 2
        session.push(*toy_metrics(201, 300))
        await settle(app, pilot)
        assert app.query_one(QualityPlot).points == 3
        assert "5/8" in text_of(app.query_one(MetricsTable))


async def test_metrics_pane_is_hidden_while_metrics_are_off(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not app.query_one(QualityPlot).display
        assert not app.query_one(MetricsTable).display
        await pilot.press("m")  # says how to turn them on instead of failing
        assert any("eval_every" in n.message for n in app._notifications)
        session.push(ev.HparamsChanged({"eval_every": 50}, 400, time=T0 + 30))
        await settle(app, pilot)
        assert app.query_one(QualityPlot).display
        assert "every 50 steps" in app.query_one(QualityPlot).waiting


async def test_a_note_goes_to_the_log_once(run_dir):
    events = mid_training(run_dir) + [
        ev.MetricsComputed(s, 6, {}, {}, NOTE, 0.0, time=T0 + 30) for s in (100, 200)
    ]
    app = GanApp(FakeSession(run_dir, events))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert [line.text for line in app.view.log].count(NOTE) == 1
        assert "see the log" in app.query_one(QualityPlot).waiting


async def test_eval_every_is_a_live_field_of_the_form(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        field = form.query_one("#in-eval_every", Input)
        assert field.value == "0"
        field.value = "250"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert session.sent == [cmd.SetHyperparams({"eval_every": 250})]


async def test_checkpoint_browser_lists_metrics(session, run_dir, fake_sampler):
    fake_checkpoint(
        run_dir,
        200,
        metrics={"modes": 5.0, "high_quality": 61.0, "reverse_kl": 0.4, "n_modes": 8.0},
    )
    fake_checkpoint(
        run_dir,
        400,
        metrics={"modes": 8.0, "high_quality": 97.5, "reverse_kl": 0.01, "n_modes": 8.0},
    )
    fake_checkpoint(run_dir, 600)  # saved before metrics were on
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        table = app.screen.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()][4] == "modes"
        assert [str(table.get_row_at(i)[4]) for i in range(3)] == [
            "--",
            "8/8",
            "5/8",
        ]  # newest first
        await pilot.press("down")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = text_of(app.screen.query_one("#ckpt-detail"))
        assert "modes 8/8" in detail and "HQ % 97.5" in detail and "KL 0.01" in detail


def test_run_view_keeps_metric_history_and_latest_values(tmp_path):
    view = RunView()
    view.apply(mid_training(tmp_path) + toy_metrics(1, 300))
    assert len(view.metrics) == 3 and list(view.metrics.column("modes")) == [3.0, 4.0, 5.0]
    assert view.metrics_step == 300 and view.metrics_values["modes"] == 5.0
    assert view.metrics_reference == TOY_REFERENCE


def test_metric_names_and_formats():
    assert (
        main_key({"confidence": 0.9, "classes": 10.0, "fid_digits": 12.0, "class_kl": 0.1})
        == "fid_digits"
    )
    assert shown_keys(TOY_REFERENCE) == [
        "modes",
        "high_quality",
        "reverse_kl",
    ]  # n_modes is the denominator
    assert main_key({}) is None
    assert format_metric("modes", 7.0, TOY_REFERENCE) == "7/8"
    assert format_metric("high_quality", 98.24) == "98.2"
    assert format_metric("fid", 1234.5) == "1234" or format_metric("fid", 1234.5) == "1235"
    assert format_metric("reverse_kl", float("inf")) == "inf"
    assert format_metric("kid", None) == "--"
