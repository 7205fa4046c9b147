"""Starts that cannot work end in one line and the right exit code, leaving nothing behind:
unwritable run directories (detached or not), a child that fails at once, --config with --preset."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.errors import ConfigError
from tests.runproc import TOY, tui_gan
from tui_gan.cli.args import build_config
from tui_gan.cli.main import make_parser


def one_line_error(out: subprocess.CompletedProcess, code: int, *words: str) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code and len(lines) == 1, (out.returncode, out.stderr)
    assert (
        "Traceback" not in out.stderr and out.stdout == "" and all(w in lines[0] for w in words)
    ), lines
    return lines[0]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A read-only file system (a bind mount of a folder, remounted read-only): root cannot write it either."""
    folder, mount = tmp_path / "rw", tmp_path / "ro"
    folder.mkdir()
    mount.mkdir()
    if subprocess.run(["mount", "--bind", str(folder), str(mount)], capture_output=True).returncode:
        pytest.skip("needs `mount --bind` (root, or a user namespace)")
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(mount)], check=True, capture_output=True
        )
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
def test_detach_into_a_folder_that_cannot_be_made_is_one_line_exit_2(
    tmp_path: Path, read_only: Path
) -> None:
    (tmp_path / "afile").write_text("")
    for run_dir in (tmp_path / "afile" / "run", read_only / "run"):
        out = tui_gan("train", "--detach", *TOY, "--run-dir", run_dir, timeout=120)
        one_line_error(out, 2, str(run_dir), "cannot write the run directory")
        assert not run_dir.exists()


@pytest.mark.slow
def test_resuming_a_read_only_run_says_it_is_not_writable(tmp_path: Path, read_only: Path) -> None:
    done = tui_gan(
        "train", "--headless", *TOY, "--max-steps", "10", "--run-dir", tmp_path / "rw" / "run"
    )
    assert done.returncode == 0, done.stderr
    run_dir = read_only / "run"
    before = (run_dir / "events.jsonl").read_bytes()
    one_line_error(
        tui_gan("train", "--headless", "--resume", run_dir, "--more", "5"),
        1,
        str(run_dir),
        "the run directory is not writable (Read-only file system)",
    )
    one_line_error(
        tui_gan("train", "--detach", "--resume", run_dir, "--more", "5", timeout=120),
        2,
        str(run_dir),
        "cannot write the run directory (Read-only file system)",
    )
    assert (run_dir / "events.jsonl").read_bytes() == before


@pytest.mark.slow
def test_a_detached_run_that_fails_at_once_never_reports_a_start(tmp_path: Path) -> None:
    # The child fails right after it starts (no such data): whichever comes first, its exit or its
    # status "failed", the parent says why in one line and exits non-zero, every time.
    for attempt in range(3):
        run_dir = tmp_path / f"run{attempt}"
        out = tui_gan(
            "train",
            "--detach",
            *TOY,
            "--set",
            "dataset=cifar10",
            "--set",
            f"data_root={tmp_path}",
            "--run-dir",
            run_dir,
            timeout=120,
        )
        line = one_line_error(
            out, 1, "the background training failed at once", "cifar10: not found under"
        )
        assert "training in the background" not in out.stdout + line


def test_config_file_goes_on_top_of_the_preset_and_set_on_top_of_both(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("width = 96\nseed = 5\n")
    args = make_parser().parse_args(
        ["train", "--config", str(path), "--preset", "ring8-mlp", "--set", "seed=7"]
    )
    config = build_config(args)
    ring8 = TrainConfig.from_preset("ring8-mlp")
    assert (config.preset, config.dataset, config.arch) == ("ring8-mlp", ring8.dataset, ring8.arch)
    assert (config.width, config.seed) == (96, 7)
    assert (
        config.replace(width=ring8.width, seed=ring8.seed) == ring8
    )  # nothing else of the file's or a default's


def test_config_file_naming_another_preset_than_the_flag_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('preset = "mnist-dcgan"\nwidth = 96\n')
    args = make_parser().parse_args(["train", "--config", str(path), "--preset", "ring8-mlp"])
    with pytest.raises(
        ConfigError, match=r"mine.toml: it names preset 'mnist-dcgan', the command line 'ring8-mlp'"
    ):
        build_config(args)
