"""RunWriter: the one place a run's files are written, silent on ranks other than 0."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from core import events as ev
from core.config import TrainConfig
from core.rundir import RunDir, read_events, read_status
from core.writer import RunWriter, WriteFailed

PICTURE = np.zeros((4, 4, 3), dtype=np.uint8)


def test_rank_0_writes_the_run_directory_and_removes_a_new_one_it_was_told_not_to_keep(
    tmp_path: Path,
) -> None:
    writer = RunWriter(RunDir(tmp_path / "run"))
    writer.open()
    writer.event(ev.Alert("info", "hello", 1))
    writer.status("running", 1, 1, None, None, {"loss_d": 0.5})
    writer.config(TrainConfig(run_dir="runs/🦊"))
    path = writer.samples(3, lambda: PICTURE)
    assert path == tmp_path / "run" / "samples" / "step_00000003.png" and path.is_file()
    assert [e.message for e in read_events(tmp_path / "run" / "events.jsonl")] == ["hello"]
    assert read_status(tmp_path / "run")["loss_d"] == 0.5
    assert TrainConfig.from_toml(tmp_path / "run" / "config.toml").run_dir == "runs/🦊"
    writer.close(keep=False)  # a run that failed before training: the directory it made goes
    assert not (tmp_path / "run").exists()


def test_other_ranks_write_nothing_and_draw_nothing(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path / "run"), rank=1)
    writer.open()

    def never() -> np.ndarray:
        raise AssertionError("drawn on a rank that keeps no files")

    writer.event(ev.Alert("info", "hello", 1))
    writer.status("running", 1, 1, None, None, {})
    writer.config(TrainConfig())
    assert writer.samples(3, never) is None
    assert writer.checkpoint(never, "manual") is None  # type: ignore[arg-type]
    assert writer.traceback("boom") is None and writer.prune(1) == [] and writer.ready
    writer.close(keep=False)
    assert not (tmp_path / "run").exists()


def test_a_failed_write_names_its_file_and_says_whether_the_disk_is_full(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path / "run"))
    writer.open()
    (tmp_path / "run" / "samples").rmdir()
    (tmp_path / "run" / "samples").write_text("not a folder")
    with pytest.raises(WriteFailed) as info:
        writer.samples(3, lambda: PICTURE)
    assert info.value.path == tmp_path / "run" / "samples" / "step_00000003.png"
    assert str(info.value).startswith(f"{info.value.path}: ") and not info.value.disk_full
    assert WriteFailed(tmp_path, OSError(errno.ENOSPC, "No space left on device")).disk_full
    writer.close()
    assert (tmp_path / "run").exists()
