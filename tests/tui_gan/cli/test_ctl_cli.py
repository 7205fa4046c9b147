"""`tui-gan ctl` steering a headless training in another process, as a script would."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from core.checkpoints import list_checkpoints, load_checkpoint
from core.rundir import read_status
from tests.runproc import ENV, ROOT, headless_run, last_step, steps, tui_gan, tui_gan_argv, wait_for

pytestmark = pytest.mark.timeout(120)


def ctl(run_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return tui_gan("ctl", run_dir, *args, timeout=timeout)


@pytest.mark.slow
def test_ctl_pauses_sets_and_stops_a_headless_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with headless_run(run_dir, 3) as proc:
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

        for bad, reason in (
            (["width=8"], "needs a restart"),
            (["lr_g=-1"], "lr_g"),
            (["nonsense=1"], "nonsense"),
        ):
            refused = ctl(run_dir, "set", *bad)
            assert refused.returncode != 0 and reason in refused.stderr, refused
            assert len(refused.stderr.strip().splitlines()) == 1

        resumed = ctl(run_dir, "resume")
        assert resumed.returncode == 0 and resumed.stdout.startswith("running"), resumed
        wait_for(lambda: last_step(run_dir) >= held + 2, 30, "steps after resume")
        for event in steps(run_dir):
            assert (event["lr_g"], event["lr_d"]) == (
                (0.0005, 0.0003) if event["step"] > held else (2e-4, 2e-4)
            )

        saved = ctl(run_dir, "save")
        assert saved.returncode == 0 and "checkpoint saved" in saved.stdout, saved

        stopped = ctl(run_dir, "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("stopped at step") and "-stop.pt" in stopped.stdout
        assert proc.wait(30) == 0
        checkpoint = Path(stopped.stdout.split("checkpoint ")[-1].strip())
        assert checkpoint.is_file()

    gone = ctl(run_dir, "pause")
    assert gone.returncode == 1 and "not alive" in gone.stderr and "stopped" in gone.stderr
    missing = ctl(tmp_path / "missing", "resume")
    assert missing.returncode == 1 and "no such run" in missing.stderr
    usage = ctl(run_dir, "set")
    assert usage.returncode == 2 and "KEY=VALUE" in usage.stderr


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(
    tmp_path: Path, capsys, timeout: str
) -> None:
    from tui_gan.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["ctl", str(tmp_path), "pause", "--timeout", timeout])
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        info.value.code == 2 and len(err) == 1 and "--timeout" in err[0] and "above 0" in err[0]
    ), err


@pytest.mark.slow
def test_ctl_answers_come_by_id_to_each_client_including_refusals_of_failed_writes(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    with headless_run(run_dir, 2) as proc:
        # two clients at once: each waits for the answer to its own command's id
        both = [
            subprocess.Popen(
                tui_gan_argv("ctl", run_dir, *args),
                env=ENV,
                cwd=ROOT,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for args in (["pause"], ["set", "lr_g=0.0005"])
        ]
        (paused, _), (changed, _) = (p.communicate(timeout=60) for p in both)
        assert [p.returncode for p in both] == [0, 0]
        assert paused.startswith("paused at step ") and changed.startswith("changed at step ")
        assert "lr_g=0.0005" in changed and "lr_g" not in paused

        again = ctl(run_dir, "pause")
        assert again.returncode == 0 and again.stdout.strip() == "already paused", again
        sampled = ctl(run_dir, "sample")
        assert sampled.returncode == 0 and sampled.stdout.startswith("samples saved: "), sampled
        assert Path(sampled.stdout.split(": ", 1)[1].strip()).is_file()
        resumed = ctl(run_dir, "resume")
        assert resumed.returncode == 0 and resumed.stdout.startswith("running from step "), resumed
        idle = ctl(run_dir, "resume")
        assert idle.returncode == 0 and idle.stdout.strip() == "not paused", idle

        for name in ("samples", "checkpoints"):  # writing into them now fails, even for root
            for leftover in (run_dir / name).iterdir():
                leftover.unlink()
            (run_dir / name).rmdir()
            (run_dir / name).write_text("not a folder")
        for action in ("save", "sample"):
            failed = ctl(run_dir, action)
            assert failed.returncode == 1 and failed.stdout == "", failed
            assert failed.stderr.startswith(f"tui-gan ctl: {action} refused: could not write "), (
                failed
            )
            assert (
                str(run_dir / ("checkpoints" if action == "save" else "samples")) in failed.stderr
            )
        stopped = ctl(
            run_dir, "stop"
        )  # the stop checkpoint cannot be written: the run waits, paused
        assert stopped.returncode == 1 and stopped.stderr.startswith(
            "tui-gan ctl: stop refused: not stopped: "
        )
        assert len(stopped.stderr.strip().splitlines()) == 1
        assert read_status(run_dir)["state"] == "paused" and proc.poll() is None
        for name in ("samples", "checkpoints"):
            (run_dir / name).unlink()
            (run_dir / name).mkdir()
        resumed = ctl(run_dir, "resume")  # writes the stop checkpoint, then stops as asked
        assert resumed.returncode == 0, resumed
        assert proc.wait(30) == 0
        assert read_status(run_dir)["state"] == "stopped"
        [saved] = list_checkpoints(run_dir)
        assert saved.reason == "stop" and load_checkpoint(saved.path)["step"] == saved.step
