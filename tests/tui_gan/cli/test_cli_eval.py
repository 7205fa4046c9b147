"""`tui-gan eval`: a checkpoint's metrics beside the real data, worded and formatted as in the app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tui_gan.cli.main import main


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    """40 steps of the 8-Gaussian ring, trained by the CLI itself."""
    path = tmp_path_factory.mktemp("eval") / "run"
    settings = (
        "batch_size=32",
        "subset=320",
        "sample_every=0",
        "checkpoint_every=20",
        "eval_samples=200",
    )
    argv = [
        "train",
        "--headless",
        "--preset",
        "ring8-mlp",
        "--device",
        "cpu",
        "--max-steps",
        "40",
        "--run-dir",
        str(path),
    ]
    assert main(argv + [arg for s in settings for arg in ("--set", s)]) == 0
    return path


def test_json_has_the_values_and_the_reference(toy_run: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["eval", str(toy_run), "-n", "300", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["step"] == 40 and data["reference"]["modes"] == 8 and "modes" in data["values"]


def test_the_table_formats_metrics_as_the_app_does(toy_run: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["eval", str(toy_run), "-n", "300"]) == 0
    out = capsys.readouterr().out
    modes = next(line for line in out.splitlines() if "modes covered" in line)
    assert re.search(r"\b\d/8\b.*\b8/8\b", modes), (
        modes
    )  # generated, then real data: N of the 8 modes
    assert "n_modes" not in out and "real data" in out
