"""`tui-gan watch`: the app on a RemoteSession; quitting detaches by default or stops the run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core import commands as cmd
from core import events as ev
from tests.fakes import FakeRun, started, steps
from tui_gan.app.remote import RemoteSession
from tui_gan.app.watch import DetachDialog, WatchApp

pytestmark = pytest.mark.timeout(60)
SIZE = (80, 24)


@pytest.fixture
def run(tmp_path: Path):
    fake = FakeRun(tmp_path / "run")
    for event in [*started(fake.path), *steps(1, 50)]:
        fake.log.write(event)
    fake.server.notify()
    yield fake
    fake.close()


async def until(condition, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def ask_to_quit(app: WatchApp, pilot) -> None:
    """Once the replayed history is on screen, press q and wait for the detach-or-stop dialog."""
    await until(lambda: app.view.step == 50)
    await pilot.press("q")
    await until(lambda: isinstance(app.screen, DetachDialog))


async def test_watch_shows_the_history_and_detaching_leaves_the_run_alone(run: FakeRun) -> None:
    session = RemoteSession(run.path)
    app = WatchApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await ask_to_quit(app, pilot)
        await pilot.press("enter")  # Detach is the focused default
        await until(lambda: not app.is_running)
    assert run.commands == []
    assert not session.alive  # detached; the run itself was never told anything


async def test_watch_can_stop_the_run_with_a_checkpoint(run: FakeRun) -> None:
    session = RemoteSession(run.path)
    app = WatchApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await ask_to_quit(app, pilot)
        await pilot.press("s")
        await until(lambda: run.commands != [])
        assert run.commands == [cmd.Stop(checkpoint=True, reason="quit from the app")]
        run.log.write(ev.StateChanged(ev.STOPPED, "quit from the app", 50))
        run.state = ev.STOPPED
        run.server.close(timeout=2.0)  # the run ends: the app's wait is over
        await until(lambda: not app.is_running)
    assert session.state == ev.STOPPED


async def test_refusals_from_the_server_show_as_alerts(run: FakeRun) -> None:
    session = RemoteSession(run.path)
    try:
        assert session.live.wait(10)
        run.state = ev.FINISHED
        session.send(cmd.Pause())
        await until(
            lambda: any(isinstance(e, ev.Alert) and "ended" in e.message for e in session.events())
        )
    finally:
        session.close()


def test_watch_at_the_client_limit_says_so_and_opens_no_app(run: FakeRun, capsys) -> None:
    from core.control import MAX_CLIENTS, ControlClient
    from tui_gan.cli.main import main

    others = [ControlClient(run.path) for _ in range(MAX_CLIENTS)]
    try:
        for client in others:
            assert client.next_message(10)["reply"] == "hello"
        assert main(["watch", str(run.path)]) == 1  # the run refused the client: a failed command
    finally:
        for client in others:
            client.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too many clients" in err[0], err
