"""`tui-gan ctl` steering a headless training in another process, as a script would."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from core.rundir import read_status
from tests.runproc import ENV, ROOT, TINY, last_step, steps, tui_gan, tui_gan_argv, wait_for

pytestmark = pytest.mark.timeout(120)


def ctl(run_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return tui_gan("ctl", run_dir, *args, timeout=timeout)


def test_ctl_pauses_sets_and_stops_a_headless_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with open(tmp_path / "out.log", "w") as out:
        proc = subprocess.Popen(tui_gan_argv("train", "--headless", *TINY, "--run-dir", run_dir),
                                env=ENV, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: last_step(run_dir) >= 3, 90, "the headless run to train")

        paused = ctl(run_dir, "pause")
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.startswith("paused at step ")
        held = int(paused.stdout.split()[-1])
        time.sleep(1.0)
        assert last_step(run_dir) == held  # pause holds the step count
        assert read_status(run_dir)["state"] == "paused"

        changed = ctl(run_dir, "set", "lr_g=0.0005", "lr_d=0.0003")
        assert changed.returncode == 0, changed.stderr
        assert "lr_g=0.0005" in changed.stdout and "lr_d=0.0003" in changed.stdout

        for bad, reason in ((["width=8"], "needs a restart"), (["lr_g=-1"], "lr_g"), (["nonsense=1"], "nonsense")):
            refused = ctl(run_dir, "set", *bad)
            assert refused.returncode != 0 and reason in refused.stderr, refused
            assert len(refused.stderr.strip().splitlines()) == 1

        resumed = ctl(run_dir, "resume")
        assert resumed.returncode == 0 and resumed.stdout.startswith("running"), resumed
        wait_for(lambda: last_step(run_dir) >= held + 2, 30, "steps after resume")
        for event in steps(run_dir):
            assert (event["lr_g"], event["lr_d"]) == ((0.0005, 0.0003) if event["step"] > held else (2e-4, 2e-4))

        saved = ctl(run_dir, "save")
        assert saved.returncode == 0 and "checkpoint saved" in saved.stdout, saved

        stopped = ctl(run_dir, "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("stopped at step") and "-stop.pt" in stopped.stdout
        assert proc.wait(30) == 0
        checkpoint = Path(stopped.stdout.split("checkpoint ")[-1].strip())
        assert checkpoint.is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    gone = ctl(run_dir, "pause")
    assert gone.returncode == 1 and "not alive" in gone.stderr and "stopped" in gone.stderr
    missing = ctl(tmp_path / "missing", "resume")
    assert missing.returncode == 1 and "no such run" in missing.stderr
    usage = ctl(run_dir, "set")
    assert usage.returncode == 2 and "KEY=VALUE" in usage.stderr
