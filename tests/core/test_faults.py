"""Fault injection: each write of a short real run fails in turn, as a full disk or a file-size limit
would make it; the run pauses instead of dying, keeps every file it wrote whole, and finishes once
the disk takes writes again and the run is resumed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core import commands as cmd
from core import events as ev
from core import rundir
from core.checkpoints import list_checkpoints, load_checkpoint
from core.config import TrainConfig
from core.rundir import read_status
from core.trainer import Trainer
from tests.conftest import TINY
from tests.runproc import ENV, ROOT, tui_gan, tui_gan_argv, wait_for

# Checkpoints of a few kB: the 3 MB disk holds several, and the filler takes the rest.
SMALL = [
    "--preset",
    "ring8-mlp",
    "--device",
    "cpu",
    "--epochs",
    "100000",
    "--max-steps",
    "400",
    "--set",
    "width=8",
    "--set",
    "batch_size=8",
    "--set",
    "n_samples=4",
    "--set",
    "sample_every=100",
    "--set",
    "checkpoint_every=40",
    "--set",
    "keep_checkpoints=2",
    "--set",
    "log_every=1",
]  # every step logged: no hole

STEPS = 6


class Disk:
    """Every write through `core.rundir.write_all`, counted; from the `fail_at`-th on each one writes
    half its bytes and fails with `code` (as a full disk does), until `free()`."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, fail_at: int = 0, code: int = errno.ENOSPC
    ) -> None:
        self.writes, self.fail_at, self.code = 0, fail_at, code
        self.failed: list[str] = []  # names of the files whose writes failed
        self.full = False
        real = rundir.write_all

        def write_all(fd: int, data: bytes) -> None:
            self.writes += 1
            if self.fail_at and self.writes >= self.fail_at and not self.freed:
                self.full = True
                self.failed.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
                real(fd, data[: len(data) // 2])
                raise OSError(self.code, os.strerror(self.code))
            real(fd, data)

        self.freed = False
        monkeypatch.setattr(rundir, "write_all", write_all)

    def free(self) -> None:
        self.freed = True


def config(run_dir: Path) -> TrainConfig:
    """A run that writes every kind of file: config, events, status, samples, periodic and final checkpoints."""
    values = {
        **TINY,
        "lr_decay": "none",
        "max_steps": STEPS,
        "sample_every": 2,
        "checkpoint_every": 3,
        "keep_checkpoints": 10,
        "run_dir": str(run_dir),
    }
    return TrainConfig.from_preset("ring8-mlp", **values)


def files(run_dir: Path) -> dict[Path, bytes]:
    return {
        p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != "status.json"
    }


def clean_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    disk = Disk(monkeypatch)
    assert Trainer(config(tmp_path / "clean")).run() == ev.FINISHED
    monkeypatch.undo()
    return disk.writes


def run_with_fault(run_dir: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int, code: int) -> None:
    """Train with writes failing from the `fail_at`-th on: a resume while full must be refused, one
    after the disk is freed must carry the run to its end; then check every file."""
    disk = Disk(monkeypatch, fail_at, code)
    trainer = Trainer(config(run_dir))
    seen: list[ev.Event] = []
    at_fault: dict[Path, bytes] = {}

    def on_event(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.Alert) and event.level == "error" and disk.full and not at_fault:
            at_fault.update(files(run_dir))
            trainer.send(cmd.Resume())  # still full: refused
        if isinstance(event, ev.CommandRefused) and event.command == "resume":
            disk.free()
            trainer.send(cmd.Resume())

    trainer.subscribe(on_event)
    where = f"writes failing from #{fail_at} ({errno.errorcode[code]})"
    trainer.start()
    assert trainer.join(60), f"{where}: the run did not end"
    assert trainer.state == ev.FINISHED, f"{where}: {trainer.error}"
    monkeypatch.undo()
    assert trainer.error is None and not (run_dir / "traceback.txt").exists(), where
    if any(
        "status.json" not in name for name in disk.failed
    ):  # status.json alone is no reason to pause
        alerts = [e.message for e in seen if isinstance(e, ev.Alert) and e.level == "error"]
        assert alerts and "cannot write" in alerts[0] and os.strerror(code) in alerts[0], (
            where,
            alerts,
        )
        refused = [e for e in seen if isinstance(e, ev.CommandRefused)]
        assert len(refused) == 1 and refused[0].reason.startswith("still cannot write"), (
            where,
            refused,
        )
    for (
        path,
        before,
    ) in at_fault.items():  # what was whole at the fault is untouched (the log only grows)
        after = path.read_bytes()
        assert after.startswith(before) if path.name == "events.jsonl" else after == before, (
            where,
            path,
        )
    logged = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged if e["kind"] == "step"] == list(range(1, STEPS + 1)), where
    assert [e["state"] for e in logged if e["kind"] == "state_changed"][-1] == ev.FINISHED, where
    assert [e["kind"] for e in logged].count("run_finished") == 1, where
    checkpoints = list_checkpoints(run_dir)
    assert [(c.step, c.reason) for c in checkpoints] == [
        (3, "periodic"),
        (6, "periodic"),
        (6, "final"),
    ], where
    for info in checkpoints:
        assert load_checkpoint(info.path)["step"] == info.step, where
    pictures = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert pictures == [f"step_{s:08d}.png" for s in (2, 4, 6)], where
    for picture in (run_dir / "samples").iterdir():
        Image.open(picture).verify()
    assert read_status(run_dir)["state"] == ev.FINISHED, where


@pytest.mark.slow
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG], ids=["ENOSPC", "EFBIG"])
def test_every_write_of_a_run_may_fail_and_the_run_pauses_then_finishes_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    total = clean_writes(tmp_path, monkeypatch)
    assert total > 20  # events, status, config, samples and checkpoints all pass the seam
    for fail_at in range(1, total + 1):
        run_with_fault(tmp_path / f"fail{fail_at}", monkeypatch, fail_at, code)


def test_a_torn_event_line_is_cut_back_and_the_log_stays_whole(tmp_path: Path, monkeypatch) -> None:
    log = rundir.EventLog(tmp_path / "events.jsonl")
    log.write(ev.Alert("info", "first", 1))
    disk = Disk(monkeypatch, fail_at=1)
    with pytest.raises(OSError):
        log.write(ev.Alert("info", "second", 2))
    assert disk.failed == ["events.jsonl"]
    disk.free()
    log.write(ev.Alert("info", "third", 3))
    log.close()
    assert [e.message for e in rundir.read_events(tmp_path / "events.jsonl")] == ["first", "third"]
    assert (tmp_path / "events.jsonl").read_text().count("\n") == 2


def test_status_is_rewritten_in_place_when_the_directory_cannot_take_a_new_file(
    tmp_path: Path,
) -> None:
    rundir.write_status(tmp_path, "running", 3, 1)
    tmp_path.chmod(0o500)  # no new files here; root ignores this, so make mkstemp fail as well
    try:
        real = rundir.tempfile.mkstemp

        def no_room(*args: object, **kwargs: object) -> tuple[int, str]:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))

        rundir.tempfile.mkstemp = no_room  # type: ignore[assignment]
        try:
            rundir.write_status(tmp_path, "finished", 9, 2)
        finally:
            rundir.tempfile.mkstemp = real
    finally:
        tmp_path.chmod(0o700)
    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["state"], status["step"]) == ("finished", 9)
    assert status["status_write_failed"] == os.strerror(errno.EACCES)


# -- a real full disk, through the real command line -----------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs; skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_tmpfs_pauses_the_cli_run_and_ctl_resume_finishes_it(small_disk: Path) -> None:
    run_dir = small_disk / "run"
    with open(small_disk.parent / "out.log", "w") as out:
        proc = subprocess.Popen(
            tui_gan_argv("train", "--headless", *SMALL, "--run-dir", run_dir),
            env=ENV,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: list((run_dir / "checkpoints").glob("*.pt")), 90, "a first checkpoint")
        filler = small_disk / "filler"
        with open(filler, "wb") as fh:  # every free block, so the next write fails
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
        wait_for(
            lambda: "paused at step" in (small_disk.parent / "out.log").read_text(), 60, "the pause"
        )
        assert proc.poll() is None and read_status(run_dir)["state"] in ("paused", "running")
        still_full = tui_gan("ctl", run_dir, "resume")
        assert still_full.returncode == 1 and "still cannot write" in still_full.stderr, still_full
        filler.unlink()
        resumed = tui_gan("ctl", run_dir, "resume")
        assert resumed.returncode == 0, resumed
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (small_disk.parent / "out.log").read_text()
    assert "No space left on device" in text and "Traceback" not in text, text
    assert read_status(run_dir)["state"] == ev.FINISHED
    assert [c.reason for c in list_checkpoints(run_dir)][-1] == "final"
    logged = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged if e["kind"] == "step"] == list(range(1, 401))
