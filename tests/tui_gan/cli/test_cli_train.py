"""`tui-gan train --headless` and `tui-gan presets` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.presets import PRESETS
from tests.runproc import ROOT


def tui_gan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tui_gan", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.slow
def test_presets_lists_every_preset_with_a_description(tmp_path):
    out = tui_gan("presets", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(PRESETS)
    for name, line in zip(PRESETS, lines):
        assert line[2:].startswith(name) and PRESETS[name].description in line
    assert lines[0].startswith("* mnist-dcgan")


def write_bad_toml(tmp_path: Path) -> str:
    path = tmp_path / "bad.toml"
    path.write_text("lr_g = = 3\n")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "lr_g=fast"], "lr_g: 'fast' is not a number"),
        (["--config", "BAD_TOML"], "not valid TOML"),
        (["--preset", "cifar10-dcgan32", "--set", "data_root=NOWHERE"], "cifar10: not found under"),
    ],
    ids=["unknown-preset", "bad-set", "bad-toml", "missing-data"],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    args = [
        a.replace("BAD_TOML", write_bad_toml(tmp_path)).replace("NOWHERE", str(tmp_path / "none"))
        for a in args
    ]
    out = tui_gan(
        "train",
        "--headless",
        "--run-dir",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        *args,
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-gan: error: ") and message in lines[0], (
        out.stderr
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_tiny_headless_run_writes_the_run_directory(tmp_path):
    run = tmp_path / "run"
    out = tui_gan(
        "train",
        "--headless",
        "--preset",
        "ring8-mlp",
        "--run-dir",
        str(run),
        "--max-steps",
        "3",
        "--device",
        "cpu",
        "--seed",
        "4",
        "--set",
        "sample_every=2",
        "--set",
        "subset=512",
        "--set",
        "eval_every=2",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    # plain log lines, since stdout is not a terminal
    assert "step 3/3" in out.stdout and "finished: 3 steps" in out.stdout
    # the quality metrics beside their real-data reference, e.g. "modes covered: 3/8 (real data 8/8)"
    assert re.search(
        r"metrics at step 2: modes covered: \d/8 \(real data 8/8\); high-quality samples",
        out.stdout,
    )
    config = (run / "config.toml").read_text()
    assert 'preset = "ring8-mlp"' in config and "max_steps = 3" in config and "seed = 4" in config
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert (
        kinds.count("step") == 3
        and kinds[-1] == "state_changed"
        and events[-1]["state"] == "finished"
    )
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_00000002.png",
        "step_00000003.png",
    ]


@pytest.mark.slow
def test_a_run_dir_and_data_root_outside_the_bmp_write_read_back_and_resume(tmp_path):
    run, data = 'runs/🦊 "q"', "data/🦊\\x"
    common = [
        "--preset",
        "ring8-mlp",
        "--device",
        "cpu",
        "--set",
        "subset=64",
        "--set",
        "batch_size=16",
        "--set",
        "checkpoint_every=0",
        "--set",
        "log_every=1",
    ]
    first = tui_gan(
        "train",
        "--headless",
        *common,
        "--run-dir",
        run,
        "--set",
        f"data_root={data}",
        "--max-steps",
        "2",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    config_path = tmp_path / run / "config.toml"
    assert "🦊" in config_path.read_text(encoding="utf-8")  # written as itself, not as escapes
    from core.config import TrainConfig

    config = TrainConfig.from_toml(config_path)
    assert (config.run_dir, config.data_root, config.max_steps) == (run, data, 2)
    again = tui_gan("train", "--headless", "--resume", run, "--max-steps", "4", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    events = [
        json.loads(line) for line in (tmp_path / run / "events.jsonl").read_text().splitlines()
    ]
    assert [e["step"] for e in events if e["kind"] == "step"] == [1, 2, 3, 4]
    started = [e for e in events if e["kind"] == "run_started"]
    assert started[-1]["config"]["data_root"] == data and started[-1]["resumed_from"]
