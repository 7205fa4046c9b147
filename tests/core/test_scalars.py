"""core.scalars: a run's scalars as rows (superseded steps once) and as a CSV file."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import pytest

from core import events as ev
from core import scalars
from core.errors import ExportError, UsageError
from core.rundir import EventLog
from tests.fakes import T0, sample_png, started, steps

RETRAINED = 10.0  # added to loss_d of the steps trained again after the resume


def evaluation(step: int) -> ev.MetricsComputed:
    return ev.MetricsComputed(
        step, 1, {"modes": step / 5, "n_modes": 8.0}, {"modes": 8.0, "n_modes": 8.0}, time=T0 + step
    )


def resumed_run(run_dir: Path) -> Path:
    """A run that logged steps 1-16 (grids and evaluations every 5, a NaN and an inf loss),
    crashed, and was resumed from its step-10 checkpoint to train steps 11-12 again."""
    run_dir.mkdir(parents=True, exist_ok=True)
    first = steps(1, 16)
    first[2] = dataclasses.replace(first[2], loss_d=math.nan)
    first[3] = dataclasses.replace(first[3], loss_g=math.inf)
    log: list[ev.Event] = [*started(run_dir)]
    for event in first:
        log.append(event)
        if event.step % 5 == 0:
            png = sample_png(run_dir / "samples" / f"step_{event.step:08d}.png", tiles=2)
            log += [ev.SamplesSaved(event.step, 1, str(png)), evaluation(event.step)]
    resume = ev.RunStarted(str(run_dir), {}, "cpu", 20, 78, start_step=10, resumed_from="x.pt")
    log.append(resume)
    for event in steps(11, 12):
        log.append(dataclasses.replace(event, loss_d=event.loss_d + RETRAINED))
    events = EventLog(run_dir / "events.jsonl")
    for event in log:
        events.write(event)
    events.close()
    return run_dir


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_rows_leave_the_superseded_steps_out(tmp_path: Path) -> None:
    table = scalars.run_scalars(resumed_run(tmp_path / "run"))
    rows = list(table.rows())
    step_rows = [r for r in rows if r.event == scalars.STEP]
    assert [r.step for r in step_rows] == list(range(1, 13))  # 11-16 of the crash are gone
    original = {e.step: e for e in steps(1, 16)}
    assert [r.values["loss_d"] - original[r.step].loss_d for r in step_rows[-2:]] == [
        pytest.approx(RETRAINED)
    ] * 2
    assert [(r.step, r.values["modes"]) for r in rows if r.event == scalars.EVAL] == [
        (5, 1.0),
        (10, 2.0),  # the evaluation at the resume's own step stays: it is the checkpoint's
    ]
    assert table.stale_samples == {15}
    assert table.metrics == ("modes", "n_modes")


def test_csv_has_a_row_per_step_and_evaluation_and_a_column_per_scalar(tmp_path: Path) -> None:
    run = resumed_run(tmp_path / "run")
    path, n = scalars.write_csv(run, tmp_path / "out" / "m.csv")
    header, rows = read_csv(path)
    assert header == [
        "event",
        "step",
        "epoch",
        "batch",
        "time",
        "loss_d",
        "loss_g",
        "d_x",
        "d_g_z",
        "lr_g",
        "lr_d",
        "img_per_s",
        "steps",
        "modes",
        "n_modes",
        "real_modes",
        "real_n_modes",
    ]
    assert n == len(rows) == 12 + 2
    by_step = {int(r["step"]): r for r in rows if r["event"] == "step"}
    expected = {e.step: e for e in steps(1, 12)}
    for step in (1, 7, 10):
        row, event = by_step[step], expected[step]
        # floats come back exactly: the cells hold their shortest round-trip form
        assert float(row["d_x"]) == event.d_x and float(row["lr_g"]) == event.lr_g
        assert float(row["time"]) == event.time and int(row["batch"]) == event.batch
        assert row["steps"] == "1" and row["modes"] == "" and row["real_modes"] == ""
    assert math.isnan(float(by_step[3]["loss_d"])) and float(by_step[4]["loss_g"]) == math.inf
    assert float(by_step[12]["loss_d"]) == expected[12].loss_d + RETRAINED
    evals = [r for r in rows if r["event"] == "eval"]
    assert [(r["step"], r["modes"], r["real_modes"], r["loss_d"], r["batch"]) for r in evals] == [
        ("5", "1", "8", "", ""),
        ("10", "2", "8", "", ""),
    ]
    assert [p.name for p in path.parent.iterdir()] == ["m.csv"]  # no temporary file left


def test_optional_step_scalars_get_columns_only_when_logged(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    log = EventLog(run / "events.jsonl")
    for event in steps(1, 3):
        log.write(dataclasses.replace(event, steps=4, last_loss_d=0.5, memory=1 << 20))
    log.close()
    path, _ = scalars.write_csv(run, tmp_path)
    assert path == tmp_path / "run-metrics.csv"  # a folder: named after the run
    header, rows = read_csv(path)
    assert header[-3:] == ["steps", "last_loss_d", "memory"]
    assert [(r["steps"], r["last_loss_d"], r["memory"]) for r in rows] == [
        ("4", "0.5", str(1 << 20))
    ] * 3


def test_a_failure_half_way_leaves_the_earlier_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = resumed_run(tmp_path / "run")
    path, _ = scalars.write_csv(run, tmp_path / "m.csv")
    before = path.read_bytes()
    calls = 0

    def failing(value: float | None) -> str:
        nonlocal calls
        calls += 1
        if calls > 50:
            raise OSError(28, "No space left on device")
        return ""

    monkeypatch.setattr(scalars, "_cell", failing)
    with pytest.raises(ExportError, match="No space left on device"):
        scalars.write_csv(run, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "run"]


@pytest.mark.parametrize(
    ("case", "error", "says"),
    [
        ("missing", ExportError, "no such run directory"),
        ("not-a-run", ExportError, "not a tui-gan run directory"),
        ("suffix", UsageError, "must end in .csv"),
        ("unwritable", ExportError, "cannot write"),
    ],
)
def test_bad_requests_are_one_line_errors(
    tmp_path: Path, case: str, error: type[Exception], says: str
) -> None:
    run = resumed_run(tmp_path / "run")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run_dir, out = {
        "missing": (tmp_path / "nope", tmp_path / "m.csv"),
        "not-a-run": (tmp_path / "out", tmp_path / "m.csv"),
        "suffix": (run, tmp_path / "m.txt"),
        "unwritable": (run, blocker / "m.csv"),
    }[case]
    (tmp_path / "out").mkdir()
    with pytest.raises(error) as info:
        scalars.write_csv(run_dir, out)
    assert says in str(info.value) and "\n" not in str(info.value)
