"""`tui-gan runs` over a folder holding damaged runs: each is listed (unreadable, with the reason
where it cannot be read), the others as usual, and nothing blocks on a FIFO."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.runs import UNREADABLE, list_runs
from tests.runproc import tui_gan

pytestmark = pytest.mark.timeout(60)


def make_run(
    root: Path,
    name: str,
    status: str | None = '{"state": "finished", "step": 9, "epoch": 1}',
    first_event: str = '{"kind": "run_started", "time": 1700000000.0}',
) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.toml").write_text('preset = "ring8-mlp"\n')
    if status is not None:
        (path / "status.json").write_text(status)
    (path / "events.jsonl").write_text(first_event + "\n")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, "good")
    make_run(root, "step-overflow", status='{"state": "finished", "step": 1e999, "epoch": 1}')
    make_run(root, "time-overflow", first_event='{"kind": "run_started", "time": 1e999}')
    make_run(root, "time-nan", first_event='{"kind": "run_started", "time": NaN}')
    make_run(root, "time-huge", first_event='{"kind": "run_started", "time": 1e300}')
    make_run(root, "status-not-object", status="[1, 2]")
    os.mkfifo(make_run(root, "status-fifo", status=None) / "status.json")
    events_fifo = make_run(root, "events-fifo")
    (events_fifo / "events.jsonl").unlink()
    os.mkfifo(events_fifo / "events.jsonl")
    config_fifo = make_run(root, "config-fifo")
    (config_fifo / "config.toml").unlink()
    os.mkfifo(config_fifo / "config.toml")
    return root


def test_damaged_runs_are_listed_as_unreadable_with_the_reason(root: Path) -> None:
    runs = {r.name: r for r in list_runs(root)}
    assert len(runs) == 9
    assert (
        runs["good"].state == "finished"
        and runs["good"].step == 9
        and runs["good"].started == 1700000000.0
    )
    for name in ("time-overflow", "time-nan", "time-huge"):  # a time no clock gave: just not shown
        assert runs[name].state == "finished" and runs[name].started is None
    reasons = {name: r.problem for name, r in runs.items() if r.state == UNREADABLE}
    assert reasons == {
        "step-overflow": "status.json: step is inf, not a finite number",
        "status-not-object": "status.json: not a JSON object",
        "status-fifo": "status.json: not a regular file",
        "events-fifo": "events.jsonl: not a regular file",
        "config-fifo": "config.toml: not a regular file",
    }


@pytest.mark.slow
def test_the_runs_command_lists_every_run_and_returns(root: Path) -> None:
    result = tui_gan("runs", root, timeout=30)  # a FIFO read would block here until the timeout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in (
        "good",
        "step-overflow",
        "time-overflow",
        "time-nan",
        "status-fifo",
        "events-fifo",
    ):
        assert name in result.stdout
    assert "events-fifo: unreadable: events.jsonl: not a regular file" in result.stdout


def test_unreadable_status_reads_as_none_elsewhere(root: Path) -> None:
    from core.rundir import read_status

    assert read_status(root / "status-fifo") is None
    assert read_status(root / "good")["step"] == 9
    assert json.loads((root / "good" / "status.json").read_text())["state"] == "finished"


@pytest.mark.parametrize(
    "status",
    [None, '{"state": "running", "step": 239, "epoch": 1}', '{"state": "runn'],
    ids=["missing", "stale", "torn"],
)
def test_a_status_json_that_could_not_be_written_yields_to_the_event_log(
    tmp_path: Path, status: str | None
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        {"kind": "state_changed", "state": state, "reason": "", "step": step, "time": 1.0}
        for state, step in (("running", 0), ("finished", 2500))
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if status is not None:
        (run / "status.json").write_text(status)
    (summary,) = list_runs(tmp_path)
    assert (summary.state, summary.step) == ("finished", 2500)
    assert (
        summary.note.startswith("status.json could not be written")
        and "events.jsonl" in summary.note
    )
