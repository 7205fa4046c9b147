"""The CLI with plug-ins: one-line errors, and a checkpoint's plug-in loaded only when named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.checkpoints import latest_checkpoint, load_checkpoint
from tests.plugin_modules import MARKER_MODELS, MODELS
from tests.runproc import ENV, tui_gan_argv
from tui_gan.cli.main import main

TINY = ["--device", "cpu", "--set", "batch_size=8", "--set", "subset=32", "--set", "n_samples=4",
        "--set", "sample_every=0", "--set", "checkpoint_every=0", "--set", "log_every=1"]  # fmt: skip


@pytest.fixture
def foreign_run(plugins, tmp_path: Path) -> Path:
    """A run trained with `evil:build`, whose module leaves a marker when imported (then removed)."""
    plugins("tinymodels", MODELS)
    plugins("evil", MARKER_MODELS)
    argv = ["train", "--headless", "--max-steps", "2", "--run-dir", str(tmp_path / "run")]
    assert main([*argv, *TINY, "--set", "arch=evil:build", "--set", "model_args.hidden=5"]) == 0
    (tmp_path / "imported.marker").unlink()
    del sys.modules["evil"]
    return tmp_path / "run"


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize(
    "command",
    [
        ["sample", "-n", "4"],
        ["export-weights"],
        ["eval", "-n", "10"],
        ["train", "--headless", "--resume"],
    ],
)
def test_an_unnamed_plug_in_checkpoint_is_refused_in_one_line(
    foreign_run: Path, tmp_path: Path, capsys, command: list[str]
) -> None:
    capsys.readouterr()
    assert main([*command, str(foreign_run)]) == 1
    line = error_line(capsys)
    assert line.startswith("tui-gan: error: ") and line.endswith(
        "trained with the plug-in model 'evil:build'; a checkpoint never makes tui-gan import "
        "code: name it with --set arch=evil:build to load it"
    )
    assert not (tmp_path / "imported.marker").exists() and "evil" not in sys.modules


def test_naming_the_plug_in_on_the_command_line_or_in_a_file_loads_it(
    foreign_run: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "s.png"
    assert (
        main(["sample", str(foreign_run), "-n", "4", "--set", "arch=evil:build", "-o", str(out)])
        == 0
    )
    assert out.is_file() and (tmp_path / "imported.marker").exists()
    config = tmp_path / "mine.toml"
    config.write_text('arch = "evil:build"\n')
    assert main(["export-weights", str(foreign_run), "--config", str(config)]) == 0
    assert main(["eval", str(foreign_run), "-n", "10", "--set", "arch=evil:build", "--json"]) == 0
    capsys.readouterr()
    resume = ["train", "--headless", "--resume", str(foreign_run), "--more", "1"]
    assert main([*resume, "--set", "arch=evil:build"]) == 0
    assert "step 3/3" in capsys.readouterr().out


def test_set_on_a_checkpoint_command_takes_only_the_plug_in_names(
    foreign_run: Path, capsys
) -> None:
    capsys.readouterr()
    assert main(["sample", str(foreign_run), "--set", "lr_g=1"]) == 2
    assert error_line(capsys) == (
        "tui-gan: error: --set lr_g: only arch and dataset can be set here (they name the "
        "checkpoint's plug-ins); its other settings are the checkpoint's own"
    )


def test_plug_in_mistakes_at_train_are_one_line_and_leave_no_run(
    plugins, tmp_path: Path, capsys
) -> None:
    plugins("tinymodels", MODELS)
    for arch, expected, code in [
        ("tinymodels:nope", "arch: module 'tinymodels' (", 1),
        ("nowhere.mod:build", "arch: no module named 'nowhere' for 'nowhere.mod:build'", 1),
        ("tinymodels:", "arch: 'tinymodels:' is not allowed; expected dcgan, upsample, mlp", 2),
    ]:
        run_dir = tmp_path / "r"
        argv = ["train", "--headless", "--max-steps", "1", "--run-dir", str(run_dir)]
        assert main([*argv, *TINY, "--set", f"arch={arch}"]) == code
        assert error_line(capsys).startswith(f"tui-gan: error: {expected}")
        assert not run_dir.exists()
    argv = ["train", "--headless", "--max-steps", "1", *TINY, "--set", "model_args.depth=3"]
    assert main(argv) == 2
    assert error_line(capsys) == (
        "tui-gan: error: model_args: only a plug-in arch (package.module:function) takes them, "
        "not the built-in arch='dcgan'"
    )


@pytest.mark.slow
def test_the_cli_process_trains_a_plug_in_and_refuses_its_checkpoint_unnamed(
    tmp_path: Path,
) -> None:
    """Through real processes: cwd on the import path, and no import from a checkpoint."""
    (tmp_path / "tinymodels.py").write_text(MODELS)
    (tmp_path / "evil.py").write_text(MARKER_MODELS)
    run_dir = tmp_path / "run"
    train = ["train", "--headless", "--max-steps", "2", "--run-dir", run_dir, *TINY]

    def tui_gan(*args) -> subprocess.CompletedProcess:  # in the user's folder, as they would
        argv = tui_gan_argv(*args)
        return subprocess.run(
            argv, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    done = tui_gan(*train, "--set", "arch=evil:build")
    assert done.returncode == 0, done.stderr
    (tmp_path / "imported.marker").unlink()
    for command in (["sample"], ["eval", "-n", "10"], ["export-weights"]):
        refused = tui_gan(*command, run_dir)
        assert refused.returncode == 1
        assert "name it with --set arch=evil:build" in refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert not (tmp_path / "imported.marker").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_plug_in_trains_under_torchrun_with_both_ranks_identical(tmp_path: Path) -> None:
    """Nothing in the DDP path is arch-specific: two ranks of examples/sngan.py stay in step."""
    import socket

    import torch

    from tests.runproc import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
            "--master-port", str(port), "--module", "tests.distributed_worker", str(out),
            *TINY, "--max-steps", "2", "--run-dir", str(tmp_path / "run"),
            "--set", "arch=examples.sngan:build", "--set", "model_args.width=2",
            "--set", "image_size=8", "--set", "label_noise=0.1"]  # fmt: skip
    done = subprocess.run(argv, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name in ("g", "d"):  # BatchNorm statistics are each rank's own; the weights are shared
        a, b = ({k: v for k, v in r[name].items() if "running_" not in k} for r in ranks)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    saved = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert saved["config"]["model_args"] == {"width": 2} and saved["world_size"] == 2


def test_the_headless_run_line_names_a_plug_in_model_not_only_its_preset(tmp_path: Path) -> None:
    from tests.fakes import started
    from tui_gan.cli.headless import describe

    builtin = started(tmp_path, preset="mnist-dcgan", arch="dcgan")[1]
    plug_in = started(tmp_path, preset="mnist-dcgan", arch="examples.sngan:build")[1]
    assert f"run {tmp_path}: mnist-dcgan on " in (describe(builtin) or "")
    assert f"run {tmp_path}: examples.sngan:build (mnist-dcgan settings) on " in (
        describe(plug_in) or ""
    )
