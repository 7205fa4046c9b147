"""Every key of the dashboard, driven with Pilot on a fake session."""

from __future__ import annotations

import contextlib

import pytest
from textual.widgets import Input
from textual.worker import WorkerCancelled

from core import commands as cmd
from core import events as ev
from tests.fakes import T0, FakeSession, started, steps
from tests.tui_gan.app.pilots import text_of
from tui_gan.app.app import GanApp
from tui_gan.app.dialogs.export import ExportDialog
from tui_gan.app.dialogs.hyperparams import HyperparamsForm
from tui_gan.app.dialogs.quit import QuitDialog
from tui_gan.app.screens.checkpoints import CheckpointsScreen
from tui_gan.app.screens.dashboard import DashboardScreen
from tui_gan.app.widgets.metric_plot import MetricPlot
from tui_gan.app.widgets.run_header import RunHeader

SIZE = (80, 24)


async def settle(app: GanApp, pilot) -> None:
    app.poll()
    await pilot.pause()


async def test_first_frame_shows_loading_before_any_event(run_dir):
    app = GanApp(FakeSession(run_dir))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert app.view.state == ev.STARTING
        assert "STARTING" in str(app.query_one("#state").render())


async def test_start_callback_runs_after_the_first_frame(run_dir):
    calls = []
    app = GanApp(FakeSession(run_dir), start=lambda: calls.append(1))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert calls == [1]


async def test_dashboard_shows_the_run(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.view.step == 400
        title = str(app.query_one(RunHeader).query_one("#title").render())
        assert "mnist-dcgan-demo" in title and "mnist5k" in title
        assert app.query_one("#loss-plot", MetricPlot).points > 0


async def test_p_pauses_and_resumes(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        assert session.sent == [cmd.Pause()]
        session.push(ev.StateChanged(ev.PAUSED, "pause requested", 400, time=T0 + 30))
        await settle(app, pilot)
        assert "PAUSED" in str(app.query_one("#state").render())
        await pilot.press("p")
        assert session.sent[-1] == cmd.Resume()


@pytest.mark.parametrize("key,command", [("s", cmd.SaveCheckpoint()), ("n", cmd.SampleNow())])
async def test_s_and_n_send_one_command(session, key, command):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press(key)
        assert session.sent == [command]


async def test_l_w_and_smoothing_change_the_plot(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        plot = app.query_one("#loss-plot", MetricPlot)
        await pilot.press("l")
        assert plot.log_scale and plot.points > 0
        await pilot.press("w")
        assert plot.window == 1_000
        before = plot.smoothing
        await pilot.press("minus")
        assert plot.smoothing < before
        await pilot.press("plus", "plus")
        assert plot.smoothing > before
        await pilot.press("l")
        assert not plot.log_scale


async def test_h_opens_the_form_and_apply_sends_one_command(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        assert isinstance(app.screen, HyperparamsForm)
        app.screen.query_one("#in-lr_g", Input).value = "1e-4"
        await pilot.pause()
        await pilot.click("#apply")
        await pilot.pause()
        assert session.sent == [cmd.SetHyperparams(lr_g=1e-4)]
        assert isinstance(app.screen, DashboardScreen)
        session.push(ev.HparamsChanged({"lr_g": 1e-4}, 401, time=T0 + 40))
        await settle(app, pilot)
        assert app.view.config["lr_g"] == 1e-4
        assert "G 1e-04" in text_of(app.query_one("#progress"))


async def test_c_opens_the_checkpoint_browser_and_escape_closes_it(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        assert isinstance(app.screen, CheckpointsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.parametrize("key,screen", [("e", ExportDialog), ("q", QuitDialog)])
async def test_dialogs_open_and_escape_closes_them_without_commands(session, key, screen):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press(key)
        assert isinstance(app.screen, screen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        assert session.sent == [] and not session.closed


@pytest.mark.parametrize("key,save", [("s", True), ("n", False)])
async def test_q_stops_the_run_waits_and_exits(session, key, save):
    app = GanApp(session, stop_timeout=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q", key)
        if save:  # the run answers once its checkpoint is saved
            session.push(ev.CommandDone(session.sent[0].id, "stop", "stopped at step 400", 400))
        with contextlib.suppress(WorkerCancelled):  # the app's exit cancels the quit worker: fine
            await app.workers.wait_for_complete()
        await pilot.pause()
    assert session.sent == [cmd.Stop(checkpoint=save, reason="quit from the app")]
    assert session.closed == 5
    assert app.return_value == 0


async def test_ctrl_c_copies_in_a_text_field_and_never_quits(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+c")  # on the dashboard: Textual's hint about ctrl+q, no quitting
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and app.is_running
        await pilot.press("h")
        field = app.screen.query_one("#in-lr_g", Input)
        assert app.focused is field
        await pilot.press("end", "shift+home", "ctrl+c")  # select the field's text, copy it
        await pilot.pause()
        assert app.clipboard == field.value == "2e-04"
        assert isinstance(app.screen, HyperparamsForm) and session.sent == [] and not session.closed


async def test_ctrl_q_quits_the_careful_way(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitDialog)


async def test_quit_with_a_checkpoint_the_run_refuses_keeps_the_app_and_the_run(session):
    app = GanApp(session, stop_timeout=30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q", "s")
        (stop,) = session.sent
        session.push(
            ev.CommandRefused(
                stop.id, "stop", "not stopped: checkpoints: No space left on device", 400
            )
        )
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not session.closed and not app.quitting and app.is_running
    assert app.return_value is None


async def test_quit_never_hangs_on_a_stuck_run(session):
    session.stop_on_close = False  # a trainer that never stops: close() gives up after its timeout
    app = GanApp(session, stop_timeout=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q", "n")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_value == 0


async def test_second_q_while_stopping_exits_at_once(session):
    app = GanApp(session)
    app.quitting = True
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


@pytest.mark.parametrize(
    "final",
    [
        [
            ev.RunFinished(400, 6, 20.0, time=T0 + 30),
            ev.StateChanged(ev.FINISHED, "all steps done", 400, time=T0 + 30),
        ],
        [
            ev.RunFailed("CUDA out of memory", 400, time=T0 + 30),
            ev.StateChanged(ev.FAILED, "CUDA out of memory", 400, time=T0 + 30),
        ],
    ],
)
async def test_app_stays_open_on_finish_or_failure(session, final):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        session.push(*final)
        await settle(app, pilot)
        await pilot.pause(0.2)
        assert app.is_running and isinstance(app.screen, DashboardScreen)
        state = final[-1].state
        assert state.upper() in str(app.query_one("#state").render())
        progress = text_of(app.query_one("#progress"))
        assert ("finished" if state == ev.FINISHED else "failed") in progress.lower()
        for key in "psnh":  # commands to an ended run are refused with a note, never sent
            await pilot.press(key)
        assert session.sent == []
        await pilot.press("q")
        assert isinstance(app.screen, QuitDialog) and not app.screen.running
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == (1 if state == ev.FAILED else 0)


async def test_coalesced_polls_take_thousands_of_steps_at_once(run_dir):
    session = FakeSession(run_dir, [*started(run_dir), *steps(1, 20_000)])
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.view.step == 20_000 and len(app.view.history) == 20_000
        plot = app.query_one("#loss-plot", MetricPlot)
        # per series: its spread (2 points a column), mean and EMA
        assert plot.points <= 8 * plot.size.width


async def test_command_palette_lists_the_app_actions(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Pause / resume training",
            "Hyperparameters",
            "Checkpoints",
            "Export",
            "Quit",
        ):
            assert title in titles


async def test_alerts_go_to_the_log_and_notifications(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        session.push(
            ev.Alert("warning", "refused set_hyperparams: width needs a restart", 401, time=T0 + 31)
        )
        await settle(app, pilot)
        log = app.query_one("#log")
        assert any("width needs a restart" in line.text for line in log.lines)
        assert any("width needs a restart" in n.message for n in app._notifications)


async def test_a_poll_as_the_app_shuts_down_leaves_the_events_for_later(session):
    """The poll timer can fire once more while shutdown removes the dashboard's widgets: that poll
    must neither draw (the widgets are gone) nor take the session's events."""
    app = GanApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        app.poll()
        await pilot.pause()
    late = steps(300, 302)
    session.push(*late)
    app.poll()
    assert session.pending == late
