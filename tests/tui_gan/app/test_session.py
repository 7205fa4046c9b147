"""Sessions say their run's state and error themselves, in process and over the control socket."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core import events as ev
from core.config import TrainConfig
from core.trainer import Trainer
from tests.fakes import FakeRun, started, steps
from tui_gan.app.remote import RemoteSession
from tui_gan.app.session import InProcessSession

pytestmark = pytest.mark.timeout(60)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_in_process_session_says_the_failure_of_its_run(tmp_path: Path) -> None:
    config = TrainConfig.from_preset(
        "cifar10-dcgan32",
        data_root=str(tmp_path / "no-data"),
        device="cpu",
        width=4,
        run_dir=str(tmp_path / "run"),
    )  # no CIFAR-10 there: it fails
    trainer = Trainer(config)
    trainer.serve_control = False
    session = InProcessSession(trainer)
    assert session.state == ev.STARTING and session.error is None
    session.start()
    session.start()  # a second start is no error: the hangup fallback may start an app's session again
    assert session.wait(30)
    assert session.state == ev.FAILED and not session.alive
    assert session.error and "cifar" in session.error.lower()


def test_remote_session_says_the_state_and_error_of_the_run(tmp_path: Path) -> None:
    run = FakeRun(tmp_path / "run")
    try:
        for event in [
            *started(run.path),
            *steps(1, 5),
            ev.RunFailed("out of memory", 5),
            ev.StateChanged(ev.FAILED, "out of memory", 5),
        ]:
            run.log.write(event)
        run.state = ev.FAILED
        run.server.notify()
        session = RemoteSession(run.path)
        try:
            wait_until(lambda: session.state == ev.FAILED)
            assert session.error == "out of memory" and not session.alive
        finally:
            session.close(timeout=0)
    finally:
        run.close()
