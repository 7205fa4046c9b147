"""The compare screen over real run directories: runs trained to the end by the real trainer, live
runs whose logs grow while the screen is open (one followed through its socket, one through its
events.jsonl), the dashboard's key that opens it, and a snapshot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.rundir import EventLog, RunLock
from core.trainer import Trainer
from tests.fakes import FakeRun, FakeSession, mid_training, tiny_trainer
from tests.tui_gan.runlogs import curve_steps, fid_metrics, write_run
from tui_gan.app.app import GanApp
from tui_gan.app.compare import CompareApp
from tui_gan.app.dialogs.pick_runs import PickRunsDialog
from tui_gan.app.logsession import LogSession
from tui_gan.app.remote import RemoteSession
from tui_gan.app.screens.compare import CompareScreen, open_session
from tui_gan.app.screens.dashboard import DashboardScreen
from tui_gan.app.widgets.runs_plot import RunsMetricPlot, RunsPlot

SIZE = (80, 24)


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


async def shown(pilot) -> CompareScreen:
    """The compare screen once every run is opened and read to its end, drawn now."""
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen)
    await pilot.app.workers.wait_for_complete()
    await wait_for(
        pilot,
        lambda: all(
            r.session is not None and getattr(r.session, "caught_up", True) for r in screen.runs
        ),
        what="the runs to be read",
    )
    screen.poll()
    screen.redraw()
    await pilot.pause()
    return screen


def toy_trainer(run_dir: Path, **extra: object) -> Trainer:
    """The 8-Gaussians MLP, tiny: 15 steps with metrics every 5, a few seconds on the CPU."""
    config = TrainConfig.from_preset(
        "ring8-mlp",
        **{
            "subset": 1000,
            "batch_size": 100,
            "width": 16,
            "sample_every": 0,
            "checkpoint_every": 0,
            "eval_every": 5,
            "eval_samples": 500,
            "max_steps": 15,
            "epochs": 100,
            "log_every": "1",
            "device": "cpu",
            "run_dir": str(run_dir),
            **extra,
        },
    )
    return Trainer(config)


@pytest.mark.slow
async def test_finished_real_runs_side_by_side_with_their_keys(tmp_path, one_torch_thread):
    root = tmp_path / "runs"
    for name, lr in (("lr-small", 2e-4), ("lr-big", 5e-3)):
        trainer = toy_trainer(root / name, lr_g=lr)
        trainer.start()
        assert trainer.join(120) and trainer.state == ev.FINISHED
    app = CompareApp(sorted(root.iterdir()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot)
        table = screen.table()
        assert table.column("run") == ["lr-big", "lr-small"]
        assert table.column("state") == ["finished", "finished"]
        assert table.column("step") == ["15", "15"]
        assert table.column("lr_g") == ["5e-03", "2e-04"]  # the one config field that differs
        assert [c for c in table.columns if c.startswith("modes")] == ["modes↑", "modes best"]
        assert len(table.columns) == 4 + 2 * 3 + 1  # modes, HQ % and KL: latest and best each
        for col, heading in enumerate(table.columns):
            if heading.endswith(" best"):
                marked = {table.rows[row][col] for row, c in table.marked if c == col}
                has_best = any(v != "--" for v in table.column(heading))
                # the best of all runs is marked wherever a run has one, always one value (ties)
                assert len(marked) == (1 if has_best else 0), (heading, table.text())
        assert all(isinstance(r.session, LogSession) for r in screen.runs)
        loss = screen.query_one("#compare-loss-d", RunsPlot)
        metric = screen.query_one(RunsMetricPlot)
        assert [r.name for r in loss.runs] == ["lr-big", "lr-small"]
        assert len({r.color for r in loss.runs}) == 2
        assert loss.points == 2 * 15 and metric.points == 2 * 3
        assert metric.column == "modes" and metric.title.startswith("modes covered")
        await pilot.press("m")
        assert metric.column == "high_quality" and metric.title.endswith("↑ better")
        await pilot.press("w")
        assert all(p.window == 1_000 for p in screen.query(RunsPlot))
        await pilot.press("l")
        assert all(p.log_scale for p in screen.query(RunsPlot))
        smoothing = loss.smoothing
        await pilot.press("plus")
        assert all(p.smoothing > smoothing for p in screen.query(RunsPlot))
        await pilot.press("minus", "minus")
        assert all(p.smoothing < smoothing for p in screen.query(RunsPlot))
        await pilot.press("q")
    assert app.return_value == 0


@pytest.mark.slow
async def test_live_runs_keep_updating_through_the_socket_and_the_log(tmp_path, one_torch_thread):
    root = tmp_path / "runs"
    finished = write_run(root, "a-finished", 50)
    socket_run, log_run = tiny_trainer(root / "b-socket"), tiny_trainer(root / "c-log")
    log_run.serve_control = False  # no control socket: the screen follows its events.jsonl
    trainers = (socket_run, log_run)
    for trainer in trainers:
        trainer.start()
    try:
        for trainer in trainers:
            deadline = time.monotonic() + 60
            while not (trainer.run_dir.path / "events.jsonl").exists() or (
                trainer is socket_run and trainer.control is None
            ):
                assert time.monotonic() < deadline, "the trainers did not start"
                time.sleep(0.05)
        app = CompareApp([finished, socket_run.run_dir.path, log_run.run_dir.path])
        async with app.run_test(size=SIZE) as pilot:
            screen = await shown(pilot)
            sessions = [type(r.session) for r in screen.runs]
            assert sessions == [LogSession, RemoteSession, LogSession]

            def steps() -> list[int]:
                screen.redraw()
                return [int(s.replace(",", "")) for s in screen.table().column("step")]

            await wait_for(pilot, lambda: min(steps()[1:]) >= 2, what="the first steps")
            first = steps()
            await wait_for(
                pilot,
                lambda: all(now > then for now, then in zip(steps()[1:], first[1:])),
                what="both live runs to move on",
            )
            assert steps()[0] == 50
            assert screen.table().column("state") == ["finished", "running", "running"]
            assert screen.query_one("#compare-loss-g", RunsPlot).points > 50
            for trainer in trainers:
                trainer.send(cmd.Stop(checkpoint=False, reason="test over"))
            await wait_for(
                pilot,
                lambda: (
                    (screen.redraw() or screen.table().column("state"))
                    == ["finished", "stopped", "stopped"]
                ),
                what="the runs to show stopped",
            )
            await pilot.press("q")
    finally:
        for trainer in trainers:
            trainer.send(cmd.Stop(checkpoint=False, reason="test over"))
            trainer.join(30)


async def test_a_log_that_grows_while_the_screen_is_open(tmp_path):
    """A run whose trainer holds its lock but serves no socket: new lines show as they land."""
    root = tmp_path / "runs"
    path = write_run(root, "growing", 10, state=None)
    lock = RunLock(path)  # held as a live trainer holds it: the run is alive, not crashed
    lock.acquire()
    try:
        app = CompareApp([path, write_run(root, "done", 20)])
        async with app.run_test(size=SIZE) as pilot:
            screen = await shown(pilot)
            assert screen.table().column("step") == ["10", "20"]
            assert screen.table().column("state") == ["running", "finished"]
            log = EventLog(path / "events.jsonl")
            for event in curve_steps(11, 30):
                log.write(event)
            log.close()
            await wait_for(
                pilot,
                lambda: (screen.redraw() or screen.table().column("step")) == ["30", "20"],
                what="the new steps",
            )
            assert screen.query_one("#compare-loss-d", RunsPlot).points == 30 + 20
    finally:
        lock.release()


async def test_the_dashboard_key_picks_sibling_runs_to_compare(tmp_path):
    root = tmp_path / "runs"
    current = write_run(root, "current", 400, state=None)
    write_run(root, "sibling-1", 300, lr_g=1e-3)
    write_run(root, "sibling-2", 200, lr_g=5e-4, state=ev.FAILED)
    app = GanApp(FakeSession(current, mid_training(current)))
    async with app.run_test(size=SIZE) as pilot:
        app.poll()
        await pilot.press("r")
        dialog = app.screen
        assert isinstance(dialog, PickRunsDialog)
        picker = dialog.query_one("#pick-runs")
        assert sorted(Path(p).name for p in picker.selected) == [
            "current",
            "sibling-1",
            "sibling-2",
        ]
        await pilot.press("down", "space")  # untick sibling-1
        await pilot.press("c")
        screen = await shown(pilot)
        assert screen.table().column("run") == ["current", "sibling-2"]
        assert screen.table().column("state") == ["crashed", "failed"]
        assert "lr_g" in screen.table().columns
        await pilot.press("q")
        assert isinstance(app.screen, DashboardScreen)


def test_compare_snapshot(snap_compare, tmp_path):
    root = tmp_path / "runs"
    runs = [
        write_run(root, "lr-2e-4", 600, lr_g=2e-4, metrics=fid_metrics(600, 100, best_at=500)),
        write_run(
            root, "lr-1e-3", 450, lr_g=1e-3, scale=2.5, metrics=fid_metrics(450, 100, best_at=400)
        ),
        write_run(root, "lr-5e-3-r1", 300, lr_g=5e-3, r1_gamma=1.0, scale=0.5, state=None),
    ]

    async def drawn(pilot) -> None:
        await shown(pilot)

    assert snap_compare(
        CompareApp(runs, "compare 3 runs under runs"), terminal_size=SIZE, run_before=drawn
    )


def test_a_live_runs_long_history_comes_through_its_socket_whole(tmp_path):
    """The dashboard may skip steps of a long replay; compare draws them all."""
    run = FakeRun(tmp_path / "long")
    lock = RunLock(run.path)
    lock.acquire()
    for event in curve_steps(1, 30_000):  # more than a session keeps unread by default
        run.log.write(event)
    run.server.notify()
    session = open_session(run.path)
    try:
        assert isinstance(session, RemoteSession)
        assert session.live.wait(60)
        steps = [e.step for e in session.events() if isinstance(e, ev.StepMetrics)]
        assert steps == list(range(1, 30_001))
    finally:
        session.close(timeout=0)
        run.close()
        lock.release()


async def test_runs_started_under_a_root_join_the_comparison(tmp_path):
    root = tmp_path / "runs"
    first = write_run(root, "first", 40)
    app = CompareApp([first], "compare 1 runs under runs", roots=[root])
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot)
        write_run(root, "second", 30, lr_g=1e-3)
        screen.scan_roots()  # what its timer does every few seconds
        await pilot.app.workers.wait_for_complete()
        screen = await shown(pilot)
        assert screen.table().column("run") == ["first", "second"]
        assert screen.table().column("step") == ["40", "30"]
        assert screen.table().column("lr_g") == ["2e-04", "1e-03"]
        assert str(screen.query_one("#compare-title").content) == "compare 2 runs under runs"
        screen.scan_roots()  # nothing new: nothing added twice
        await pilot.app.workers.wait_for_complete()
        assert len(screen.runs) == 2


async def test_plots_of_four_runs_of_a_million_steps_are_fast(tmp_path):
    import numpy as np

    from tui_gan.app.widgets.runs_plot import PlotRun
    from tui_gan.view.history import MetricHistory

    app = CompareApp([write_run(tmp_path, "run", 5)])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await shown(pilot)
        plot = screen.query_one("#compare-loss-g", RunsPlot)
        runs = []
        for i in range(4):
            n = 1_000_000 - i * 100_000  # runs at different steps: the x axis spans the longest
            rows = np.empty((n, 5))
            rows[:, 0] = np.arange(1, n + 1)
            rows[:, 1:] = np.exp(-np.arange(n) / 300_000)[:, None] * (i + 1)
            rows[::97, 2] = np.nan
            history = MetricHistory(n)
            history.extend(rows)
            runs.append(PlotRun(f"run{i}", "cyan", history))
        plot.runs = runs
        for window in (None, 10_000):
            plot.window = window
            start = time.perf_counter()
            plot.replot()
            plot.render()
            elapsed = time.perf_counter() - start
            assert elapsed < 2.0, elapsed
            # the window counts back from the furthest run: the others end before it
            shown_runs = 4 if window is None else 1
            # a run is at most a line and its spread (2 points a column) across the width
            assert shown_runs * 10 <= plot.points <= 3 * shown_runs * plot.size.width
