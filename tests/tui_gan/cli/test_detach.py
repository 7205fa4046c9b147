"""Trainings that outlive their terminal: `train --detach`, a TUI whose pty hangs up, `runs`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core import commands as cmd
from core import events as ev
from core.rundir import lock_held, read_status
from tests.runproc import ENV, ROOT, TINY, last_step, tui_gan, tui_gan_argv, wait_for

pytestmark = pytest.mark.timeout(150)


def runs_row(root: Path, name: str) -> dict[str, Any]:
    """`name`'s object in `tui-gan runs ROOT --json`."""
    table = tui_gan("runs", root, "--json")
    assert table.returncode == 0, table.stderr
    return next(row for row in map(json.loads, table.stdout.splitlines()) if row["name"] == name)


@pytest.mark.slow
def test_detached_run_survives_its_caller_and_a_killed_one_shows_as_crashed(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    started = tui_gan("train", "--detach", *TINY, "--run-dir", root / "bg", timeout=120)
    assert started.returncode == 0, started.stderr
    run_dir = (root / "bg").resolve()
    assert (
        f"tui-gan watch {run_dir}" in started.stdout
        and str(run_dir / "train.log") in started.stdout
    )
    pid = read_status(run_dir)["pid"]
    try:
        assert os.getsid(pid) != os.getsid(0)  # its own session: no terminal to lose
        assert (run_dir / "train.log").is_file()
        # status.json (what `runs` reads) is rewritten every 2 s while training
        wait_for(
            lambda: read_status(run_dir).get("step", 0) >= 2, 60, "the background run to train"
        )
        row = runs_row(root, "bg")
        assert (row["preset"], row["state"], row["attachable"]) == ("mnist-dcgan", "running", True)
        assert row["step"] >= 2 and row["loss_d"] > 0
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not lock_held(run_dir), 20, "the killed process to release its lock")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    row = runs_row(root, "bg")
    assert (row["state"], row["attachable"]) == ("crashed", False)
    refused = tui_gan("ctl", run_dir, "pause")
    assert refused.returncode == 1 and "not alive" in refused.stderr and "crashed" in refused.stderr


# -- the dropped link --------------------------------------------------------------------------

# Makes the pty its controlling terminal, as a login shell's child has, then runs tui-gan.
SESSION_LEADER = "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); os.execv(sys.argv[1], sys.argv[1:])"


@pytest.mark.slow
def test_tui_training_survives_a_hangup_and_can_be_attached(tmp_path: Path) -> None:
    from tui_gan.app.remote import RemoteSession

    run_dir = tmp_path / "tui-run"
    master, slave = os.openpty()
    os.set_inheritable(slave, True)
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION_LEADER, *tui_gan_argv("train", *TINY, "--run-dir", run_dir)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**ENV, "LINES": "30", "COLUMNS": "100"},
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # a terminal reads what the app draws
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)

    threading.Thread(target=drain, daemon=True).start()
    try:
        wait_for(lambda: last_step(run_dir) >= 3, 90, "the TUI run to train")
        assert b"\x1b[?1049h" in screen  # the app really drew on the terminal
        os.close(master)  # the link drops: the kernel hangs up the pty and sends SIGHUP
        master = -1
        time.sleep(1.0)
        assert proc.poll() is None, "the hangup ended the training"
        at_hangup = last_step(run_dir)
        wait_for(
            lambda: last_step(run_dir) >= at_hangup + 3, 30, "training to go on without a screen"
        )

        session = RemoteSession(run_dir)
        try:
            assert session.live.wait(20)
            history = session.events()
            first_steps = [e.step for e in history if isinstance(e, ev.StepMetrics)]
            assert any(isinstance(e, ev.RunStarted) for e in history)
            assert first_steps[:3] == [1, 2, 3]  # the whole history
            newest = first_steps[-1]
            live = wait_for(
                lambda: [e for e in session.events() if isinstance(e, ev.StepMetrics)],
                20,
                "live steps",
            )
            assert live[0].step == newest + 1  # no gap, no duplicate
            session.send(cmd.Stop(checkpoint=True, reason="test over"))
            session.close(timeout=60)
        finally:
            session.close(timeout=0)
        assert proc.wait(30) == 0
        log = (run_dir / "train.log").read_text()
        assert "terminal closed (SIGHUP)" in log and "tui-gan watch" in log
        assert "checkpoint (stop)" in log
        assert read_status(run_dir)["state"] == "stopped"
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
