"""`tui-gan runs` in a pipe, a narrow and a wide terminal, and `--json` read back; `tui-gan compare`'s
mistakes caught before the app opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import events as ev
from core.rundir import RunLock, write_status
from core.runs import list_runs
from tests.tui_gan.runlogs import write_run
from tui_gan.cli.main import main

LONG = "mnist-dcgan-lr-2e-4-with-r1-gamma-10-and-spectral-norm"


@pytest.fixture
def root(tmp_path: Path):
    """A long-named live run (its lock held), a finished and a crashed one."""
    root = tmp_path / "runs"
    live = write_run(root, LONG, 120, state=None)
    write_status(live, ev.RUNNING, 120, 2, loss_d=0.6931, loss_g=1.25)
    write_run(root, "finished-run", 300)
    write_run(root, "crashed-run", 50, state=None)
    lock = RunLock(live)
    lock.acquire()
    yield root
    lock.release()


def rows(out: str) -> dict[str, list[str]]:
    """The plain table's rows by name, each cell split at the two-space column gaps."""
    lines = out.splitlines()
    assert lines[0].split() == [
        "name", "preset", "state", "step", "epoch", "loss", "D", "loss", "G", "started", "attachable"
    ]  # fmt: skip
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_runs_in_a_pipe_prints_whole_names_and_states_at_80_columns(root, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", str(root)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and "\x1b[" not in out  # nothing cut, no colour codes in a pipe
    found = rows(out)
    assert found[LONG][2:5] == ["running", "120", "2"]
    assert found[LONG][5:7] == ["0.6931", "1.2500"]
    assert found["finished-run"][2] == "finished"
    assert found["crashed-run"][2] == "crashed"


def test_runs_in_a_narrow_terminal_prints_plain_columns_with_colour(root, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", str(root)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and "┃" not in out
    assert "\x1b[32mrunning" in out  # the state keeps its colour
    monkeypatch.setenv("COLUMNS", "250")  # wide enough: the Rich table, whole
    assert main(["runs", str(root)]) == 0
    wide = capsys.readouterr().out
    assert "┃" in wide and LONG in wide and "…" not in wide


def test_runs_json_gives_one_object_per_run(root, capsys):
    assert main(["runs", str(root), "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = list_runs(root)
    assert [o["name"] for o in objects] == [r.name for r in expected]
    by_name = {o["name"]: o for o in objects}
    assert by_name[LONG] | {"started": None} == {
        "path": str(root / LONG),
        "name": LONG,
        "preset": "mnist-dcgan",
        "state": "running",
        "step": 120,
        "epoch": 2,
        "loss_d": 0.6931,
        "loss_g": 1.25,
        "started": None,
        "attachable": False,  # no control socket: written by hand
        "problem": "",
        "note": "",
    }
    assert by_name["crashed-run"]["state"] == "crashed"


def test_runs_json_of_an_empty_folder_prints_nothing(tmp_path, capsys):
    assert main(["runs", str(tmp_path), "--json"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing", "missing: no such run directory or folder"),
        ("empty", "empty: not a run directory, and no runs under it"),
    ],
)
def test_compare_of_no_runs_is_a_usage_error(tmp_path, capsys, path, message):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(message) and len(err.splitlines()) == 1
