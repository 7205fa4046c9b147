"""Training a run for longer (issue 20): `--resume` with a raised total or `--more`, refusals that
touch nothing, and the epoch a finished run shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.rundir import read_status
from tests.runproc import TOY, read_jsonl
from tui_gan.cli.main import main

# TOY: 10 steps an epoch, so a run of 3 epochs is 30 steps; every step logged, no decay, no checkpoints.
SMALL = [*TOY, "--set", "checkpoint_every=0", "--set", "lr_decay=none", "--set", "log_every=1"]


def train(*args: str) -> int:
    return main(["train", "--headless", *args])


@pytest.fixture
def finished_run(tmp_path: Path, one_torch_thread) -> Path:
    run_dir = tmp_path / "run"
    assert train(*SMALL, "--epochs", "3", "--run-dir", str(run_dir)) == 0
    return run_dir


def started(run_dir: Path) -> list[dict]:
    return [e for e in read_jsonl(run_dir / "events.jsonl") if e["kind"] == "run_started"]


def test_a_finished_run_shows_its_last_epoch_not_one_past_it(finished_run: Path) -> None:
    status = read_status(finished_run)
    assert (status["state"], status["step"], status["epoch"]) == ("finished", 30, 3)
    finish = [e for e in read_jsonl(finished_run / "events.jsonl") if e["kind"] == "run_finished"][
        -1
    ]
    assert finish["epoch"] == 3


@pytest.mark.parametrize(
    ("args", "steps", "epochs", "line"),
    [
        (["--max-steps", "45"], 45, 5, "plan: 3 → 5 epochs, 30 → 45 steps"),
        (["--epochs", "5"], 50, 5, "plan: 3 → 5 epochs, 30 → 50 steps"),
        (["--more", "15"], 45, 5, "plan: 3 → 5 epochs, 30 → 45 steps"),
        (["--more-epochs", "1"], 40, 4, "plan: 3 → 4 epochs, 30 → 40 steps"),
    ],
    ids=["max-steps", "epochs", "more", "more-epochs"],
)
def test_a_resume_that_raises_a_total_trains_to_it_and_says_the_new_plan(
    finished_run: Path, capsys, args: list[str], steps: int, epochs: int, line: str
) -> None:
    capsys.readouterr()
    assert train("--resume", str(finished_run), *args) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"run {finished_run}") and first.endswith(line), first
    status = read_status(finished_run)
    assert (status["state"], status["step"], status["epoch"]) == ("finished", steps, epochs)
    assert started(finished_run)[-1]["plan_note"] == line
    assert f"epochs = {epochs}" in (finished_run / "config.toml").read_text()


@pytest.mark.parametrize(
    "args",
    [[], ["--max-steps", "30"], ["--max-steps", "20"], ["--epochs", "2"]],
    ids=["nothing", "same-steps", "fewer-steps", "fewer-epochs"],
)
def test_a_resume_that_would_train_nothing_is_refused_and_touches_nothing(
    finished_run: Path, capsys, args: list[str]
) -> None:
    before = {
        name: (finished_run / name).read_bytes()
        for name in ("config.toml", "events.jsonl", "status.json")
    }
    capsys.readouterr()
    assert train("--resume", str(finished_run), *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "nothing to train: the run is at step 30" in err[0]
        and "--more STEPS" in err[0]
    ), err
    assert {name: (finished_run / name).read_bytes() for name in before} == before


def test_more_needs_a_resume_and_takes_no_totals(finished_run: Path, capsys) -> None:
    assert train(*SMALL, "--more", "5") == 2
    assert "use them with --resume" in capsys.readouterr().err
    assert train("--resume", str(finished_run), "--more", "5", "--max-steps", "50") == 2
    assert "give one of --more" in capsys.readouterr().err


def test_extending_a_cosine_run_names_the_lr_before_and_after(
    tmp_path: Path, one_torch_thread, capsys
) -> None:
    run_dir = tmp_path / "cos"
    assert (
        train(*SMALL, "--set", "lr_decay=cosine", "--epochs", "2", "--run-dir", str(run_dir)) == 0
    )
    capsys.readouterr()
    assert train("--resume", str(run_dir), "--more", "20") == 0
    note = started(run_dir)[-1]["plan_note"]
    assert "the cosine lr schedule now ends at step 40, so at step 20 lr_g goes " in note, note
    steps = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    lrs = [e["lr_g"] for e in steps if e["kind"] == "step"]
    assert lrs[20] > lrs[19]  # the longer schedule raises the lr where the old one had ended it
