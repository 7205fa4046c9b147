"""`tui-gan export-metrics`: a real run's CSV and TensorBoard files, one-line errors, no torch."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from core import events as ev
from core.rundir import read_events
from tests.core.test_scalars import resumed_run
from tests.runproc import main_in_a_new_process
from tui_gan.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A 20-step toy run made by the CLI, evaluated every 10 steps, with a grid every 5."""
    path = tmp_path_factory.mktemp("cli-metrics") / "toy"
    settings = ("subset=400", "batch_size=100", "sample_every=5", "eval_every=10", "log_every=1")
    argv = ["train", "--headless", "--preset", "ring8-mlp", "--device", "cpu", "--max-steps", "20"]
    assert main(argv + ["--run-dir", str(path)] + [a for s in settings for a in ("--set", s)]) == 0
    return path


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_csv_and_tensorboard_of_a_real_run(run_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("tensorboard", reason="the extra: pip install 'tui-gan[tensorboard]'")
    out_csv, out_tb = tmp_path / "m.csv", tmp_path / "tb"
    assert (
        run(["export-metrics", str(run_dir), "--csv", str(out_csv), "--tensorboard", str(out_tb)])
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == str(out_csv) and Path(printed[1]).parent == out_tb / "toy"
    events = list(read_events(run_dir / "events.jsonl"))
    logged = [e.step for e in events if isinstance(e, ev.StepMetrics)]
    evaluated = [e.step for e in events if isinstance(e, ev.MetricsComputed) and e.values]
    assert logged == list(range(1, 21)) and evaluated == [10, 20]
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows if r["event"] == "step"] == logged
    assert [int(r["step"]) for r in rows if r["event"] == "eval"] == evaluated
    assert all(float(r["modes"]) >= 0 for r in rows if r["event"] == "eval")

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out_tb / "toy"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/D")] == logged
    assert [e.step for e in acc.Scalars("eval/modes")] == evaluated
    assert [e.step for e in acc.Images("samples")] == [5, 10, 15, 20]


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        ([], 2, "--csv FILE, --tensorboard DIR or both"),
        (["--csv", "{tmp}/m.txt"], 2, "must end in .csv"),
        (["--tensorboard", "{tmp}/file"], 1, "not a directory"),
    ],
)
def test_bad_requests_are_one_line(
    run_dir: Path, tmp_path: Path, capsys, flags: list[str], code: int, says: str
) -> None:
    (tmp_path / "file").write_text("x")
    assert run(["export-metrics", str(run_dir), *(f.format(tmp=tmp_path) for f in flags)]) == code
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and says in captured.err


def test_a_missing_run_is_exit_1(tmp_path: Path, capsys) -> None:
    assert run(["export-metrics", str(tmp_path / "nope"), "--csv", str(tmp_path / "m.csv")]) == 1
    assert "no such run directory" in capsys.readouterr().err


def test_without_tensorboard_nothing_is_written_and_one_line_says_how_to_install(
    run_dir: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    argv = ["export-metrics", str(run_dir), "--csv", str(tmp_path / "m.csv")]
    assert run(argv + ["--tensorboard", str(tmp_path / "tb")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [
        "tui-gan: error: TensorBoard export needs the tensorboard package: "
        "pip install 'tui-gan[tensorboard]'"
    ]
    assert list(tmp_path.iterdir()) == []
    assert run(argv) == 0  # the CSV alone needs no extra


@pytest.mark.slow
def test_export_metrics_never_imports_torch(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the extra: pip install 'tui-gan[tensorboard]'")
    run_dir = resumed_run(tmp_path / "run")
    argv = [
        "export-metrics",
        run_dir,
        "--csv",
        tmp_path / "m.csv",
        "--tensorboard",
        tmp_path / "tb",
    ]
    code, torch, stderr = main_in_a_new_process(argv)
    assert (code, torch) == (0, False), stderr
    assert (tmp_path / "m.csv").is_file() and list((tmp_path / "tb" / "run").iterdir())
