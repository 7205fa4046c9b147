"""Headless runs under signals: kill -9 then resume, SIGTERM stops with a checkpoint, SIGHUP is survived."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from core import commands as cmd
from core.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint
from core.rundir import read_events, read_status
from tests.runproc import ROOT
from tui_gan.cli.headless import SignalStop

TINY = [
    "--preset",
    "mnist-dcgan",
    "--set",
    "width=4",
    "--set",
    "batch_size=8",
    "--set",
    "subset=64",
    "--set",
    "sample_every=0",
    "--device",
    "cpu",
]


def headless(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "tui_gan", "train", "--headless", *args],
        cwd=ROOT,
        env=env,
        text=True,
        **popen,
    )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


def steps_logged(run_dir: Path) -> int:
    return sum(1 for e in read_events(run_dir / "events.jsonl") if e.kind == "step")


@pytest.fixture
def reap():
    procs: list[subprocess.Popen] = []
    yield procs.append
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.slow
def test_kill_9_while_checkpointing_then_resume_from_the_newest(tmp_path: Path, reap) -> None:
    run_dir = tmp_path / "run"
    proc = headless(
        "--run-dir",
        str(run_dir),
        *TINY,
        "--set",
        "checkpoint_every=1",
        "--set",
        "keep_checkpoints=3",
        "--max-steps",
        "100000",
        "--epochs",
        "100000",
    )
    reap(proc)
    wait_for(lambda: len(list_checkpoints(run_dir)) >= 3 and steps_logged(run_dir) >= 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert read_status(run_dir)["state"] == "crashed"
    listed = list_checkpoints(run_dir)
    assert listed and all(c.readable for c in listed)
    for info in listed:  # nothing that lists as a checkpoint is a half file
        assert load_checkpoint(info.path)["step"] == info.step
    newest = latest_checkpoint(run_dir)
    step = load_checkpoint(newest)["step"]
    lines_before = (run_dir / "events.jsonl").read_text().count("\n")

    resumed = headless("--resume", str(run_dir), "--max-steps", str(step + 3))
    reap(resumed)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"at step {step}" in out and str(newest.name) in out
    assert read_status(run_dir)["state"] == "finished" and read_status(run_dir)["step"] == step + 3
    assert (run_dir / "events.jsonl").read_text().count("\n") > lines_before
    assert load_checkpoint(latest_checkpoint(run_dir))["step"] == step + 3
    assert not list(
        (run_dir / "checkpoints").glob(".*.tmp")
    )  # a killed writer's temp files are gone


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_stops_with_a_checkpoint_and_exit_0(
    tmp_path: Path, reap, sig: signal.Signals
) -> None:
    run_dir = tmp_path / "run"
    proc = headless(
        "--run-dir",
        str(run_dir),
        *TINY,
        "--set",
        "checkpoint_every=0",
        "--max-steps",
        "100000",
        "--epochs",
        "100000",
    )
    reap(proc)
    wait_for(lambda: steps_logged(run_dir) >= 2, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    status = read_status(run_dir)
    assert status["state"] == "stopped"
    [info] = list_checkpoints(run_dir)
    assert info.reason == "stop" and info.step == status["step"] > 0
    assert load_checkpoint(info.path)["step"] == info.step
    assert f"{sig.name}: saving a checkpoint and stopping" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_exits_at_once_naming_the_newest_checkpoint(
    monkeypatch, capsys, tmp_path: Path, sig: signal.Signals
) -> None:
    # In-process: two kills sent to a busy subprocess may merge into one pending signal.
    sent: list[cmd.Command] = []

    def _exit(code: int) -> None:
        raise SystemExit(code)  # like os._exit, it never returns

    monkeypatch.setattr(os, "_exit", _exit)
    trainer = SimpleNamespace(send=sent.append, run_dir=tmp_path)
    before = signal.getsignal(sig)
    with pytest.raises(SystemExit) as exited, SignalStop(trainer, io.StringIO()):  # type: ignore[arg-type]
        for _ in range(2):
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # the Python-level handler runs between bytecodes
    assert exited.value.code == 128 + sig
    assert len(sent) == 1 and isinstance(sent[0], cmd.Stop) and sent[0].checkpoint
    assert signal.getsignal(sig) is before  # handlers restored
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"{sig.name} again: exiting now; no checkpoint of this run exists")
    )


def started(run_dir: Path) -> bool:
    """The headless run has its signal handlers in place (they are set before its first event)."""
    return (run_dir / "events.jsonl").is_file()


@pytest.mark.slow
def test_sighup_is_ignored_and_the_run_finishes(tmp_path: Path, reap) -> None:
    run_dir = tmp_path / "run"
    proc = headless("--run-dir", str(run_dir), *TINY, "--max-steps", "20", "--epochs", "100")
    reap(proc)
    wait_for(lambda: started(run_dir), proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert read_status(run_dir)["state"] == "finished" and read_status(run_dir)["step"] == 20
    assert "finished: 20 steps" in out  # output redirected away from a terminal is kept (nohup)


@pytest.mark.slow
def test_a_dropped_terminal_does_not_end_the_run(tmp_path: Path, reap) -> None:
    """SSH drops: the pty goes away (writes fail with EIO) and SIGHUP arrives; training goes on."""
    run_dir = tmp_path / "run"
    master, slave = os.openpty()
    proc = headless(
        "--run-dir",
        str(run_dir),
        *TINY,
        "--max-steps",
        "20",
        "--epochs",
        "100",
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    reap(proc)
    os.close(slave)
    try:
        wait_for(lambda: started(run_dir), proc)
    finally:
        os.close(master)  # the terminal is gone: further writes to it fail
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=120) == 0
    assert read_status(run_dir)["state"] == "finished" and read_status(run_dir)["step"] == 20
