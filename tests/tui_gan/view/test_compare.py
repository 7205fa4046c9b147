"""The compare view: which runs a path names, which config fields differ, and the best of each metric
by its own direction (lower FID, more classes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core import events as ev
from core.errors import UsageError
from tests.fakes import T0
from tests.tui_gan.runlogs import fid_metrics, write_run
from tui_gan.app.logsession import LogSession
from tui_gan.view.compare import (
    CompareRow,
    compare_table,
    differing_config,
    metric_cells,
    resolve_runs,
)
from tui_gan.view.metricnames import direction
from tui_gan.view.runview import RunView


def read_all(session: LogSession, timeout: float = 30.0) -> list[ev.Event]:
    """Every event the session's reader hands out until it has reached the end of the log."""
    out: list[ev.Event] = []
    deadline = time.monotonic() + timeout
    while not session.caught_up:
        assert time.monotonic() < deadline, "the log was not read to its end"
        out += session.events()
        time.sleep(0.01)
    return out


def view_of(path: Path) -> RunView:
    """A run read back from its events.jsonl the way the compare screen reads it."""
    view, session = RunView(), LogSession(path)
    view.apply(read_all(session))
    session.close()
    return view


def test_a_root_names_its_runs_a_run_itself_and_duplicates_once(tmp_path):
    root = tmp_path / "runs"
    a = write_run(root, "a", 10)
    b = write_run(root, "b", 10)
    assert resolve_runs([root]).runs == [a, b]
    assert resolve_runs([root]).roots == [root]  # a folder of runs: new ones may join later
    assert resolve_runs([b, root, a]).runs == [b, a]
    assert resolve_runs([b, a]).roots == []


def test_unreadable_runs_are_left_out_and_named(tmp_path):
    root = tmp_path / "runs"
    good = write_run(root, "good", 5)
    bad = write_run(root, "bad", 5)
    (bad / "status.json").unlink()
    os.mkfifo(bad / "status.json")  # would block a careless reader
    resolved = resolve_runs([root])
    assert resolved.runs == [good]
    assert len(resolved.skipped) == 1 and "bad" in resolved.skipped[0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: t / "missing", "no such run directory or folder"),
        (lambda t: (t / "file.txt").write_text("x") and t / "file.txt", "not a folder"),
        (lambda t: (t / "empty").mkdir() or t / "empty", "no runs under it"),
    ],
)
def test_a_path_that_names_no_run_is_a_usage_error(tmp_path, make, message):
    with pytest.raises(UsageError, match=message):
        resolve_runs([make(tmp_path)])


def test_only_the_config_fields_that_differ_are_kept():
    configs = [
        {"lr_g": 2e-4, "beta1": 0.5, "run_dir": "runs/a", "loss": "bce"},
        {"lr_g": 1e-3, "beta1": 0.5, "run_dir": "runs/b", "loss": "bce", "r1_gamma": 1.0},
        {},  # a run still starting says nothing yet
    ]
    assert differing_config(configs) == ["lr_g", "r1_gamma"]
    assert differing_config(configs[:1]) == []


def test_the_best_follows_each_metrics_direction(tmp_path):
    assert direction("fid_digits") == -1 and direction("classes") == 1 and direction("x") == 0
    root = tmp_path / "runs"
    early = write_run(root, "early", 400, metrics=fid_metrics(400, 100, best_at=100))
    late = write_run(root, "late", 300, metrics=fid_metrics(300, 100, best_at=300))
    views = [view_of(early), view_of(late)]
    fid = metric_cells(views, "fid_digits")
    assert [c.best for c in fid] == [10.0, 10.0] and [c.best_step for c in fid] == [100, 300]
    assert [c.latest for c in fid] == [40.0, 10.0]
    assert all(c.marked for c in fid)  # a tie: both reached the lowest FID
    classes = metric_cells(views, "classes")
    assert [c.best for c in classes] == [4.0, 3.0] and [c.marked for c in classes] == [True, False]


def test_the_table_marks_the_best_and_shows_the_differing_config(tmp_path):
    root = tmp_path / "runs"
    a = write_run(root, "lr-small", 300, lr_g=2e-4, metrics=fid_metrics(300, 100, best_at=200))
    b = write_run(root, "lr-big", 200, lr_g=1e-3, scale=2.0, state=ev.FAILED)
    table = compare_table(
        [CompareRow("lr-small", "finished", view_of(a)), CompareRow("lr-big", "failed", view_of(b))]
    )
    assert table.columns == [
        "run",
        "state",
        "step",
        "img/s",
        "FID(d)↓",
        "FID(d) best",
        "classes↑",
        "classes best",
        "lr_g",
    ]
    assert table.column("step") == ["300", "200"]
    assert table.column("img/s") == ["1,000", "2,000"]
    assert table.column("FID(d) best") == ["★10", "--"]
    assert table.column("lr_g") == ["2e-04", "1e-03"]
    assert table.marked == {(0, 5), (0, 7)}
    assert "*★10" in table.text().splitlines()[1]


def test_a_log_is_read_in_chunks_and_a_torn_line_waits_for_its_end(tmp_path):
    path = write_run(tmp_path, "run", 50)
    session = LogSession(path, chunk=512, follow_interval=0.01)
    seen = read_all(session)
    assert [e.step for e in seen if isinstance(e, ev.StepMetrics)] == list(range(1, 51))
    assert session.state == ev.FINISHED
    with open(path / "events.jsonl", "ab") as fh:
        fh.write(b'{"kind": "alert", "level": "info", "message": "half')
    time.sleep(0.2)  # the reader has looked at the half line many times
    assert session.events() == []
    with open(path / "events.jsonl", "ab") as fh:
        fh.write(b' a line", "step": 51, "time": %f}\n' % T0)
    deadline = time.monotonic() + 10
    while not (alerts := session.events()):
        assert time.monotonic() < deadline, "the completed line never arrived"
        time.sleep(0.01)
    assert [e.message for e in alerts] == ["half a line"]
    session.close(timeout=5)


def test_a_long_log_is_handed_out_in_bounded_batches(tmp_path, monkeypatch):
    import tui_gan.app.logsession as logsession

    monkeypatch.setattr(logsession, "MAX_PENDING", 100)
    session = LogSession(write_run(tmp_path, "run", 1000), chunk=4096, follow_interval=0.01)
    batches = []
    deadline = time.monotonic() + 30
    while not session.caught_up:
        assert time.monotonic() < deadline
        time.sleep(0.05)  # the reader waits for us once 100 events are pending
        batches.append(session.events())
    steps = [e.step for b in batches for e in b if isinstance(e, ev.StepMetrics)]
    assert steps == list(range(1, 1001))
    # a chunk of lines may top the last batch up past the limit, never more
    assert max(len(b) for b in batches) < 100 + 4096 // 100
    session.close(timeout=5)


def test_a_log_with_no_final_state_and_no_trainer_is_crashed(tmp_path):
    session = LogSession(write_run(tmp_path, "run", 20, state=None))
    read_all(session)
    assert session.state == "crashed" and not session.alive
    session.close(timeout=5)
