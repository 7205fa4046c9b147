"""`tui-gan sample --interpolate/--steps/--gif/--fps/--truncation`: files written, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tui_gan.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A 2-step run made by the CLI itself, with its final checkpoint."""
    path = tmp_path_factory.mktemp("cli-noise") / "run"
    settings = ("width=4", "batch_size=8", "subset=16", "sample_every=0", "checkpoint_every=0")
    argv = ["train", "--headless", "--device", "cpu", "--max-steps", "2", "--run-dir", str(path)]
    assert main(argv + [arg for s in settings for arg in ("--set", s)]) == 0
    return path


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code or 0)


def printed_path(capsys) -> Path:
    captured = capsys.readouterr()
    assert captured.err == ""
    [line] = captured.out.splitlines()
    return Path(line)


def test_interpolate_writes_k_rows_of_steps(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "walk.png"
    argv = ["sample", str(run_dir), "--interpolate", "3", "--steps", "5", "--seed", "2"]
    assert run(argv + ["-o", str(out), "--truncation", "0.8"]) == 0
    assert printed_path(capsys) == out
    with Image.open(out) as img:
        assert img.size == (5 * 30 + 2, 3 * 30 + 2)
    assert run(["sample", str(run_dir), "--interpolate", "2"]) == 0  # default: exports/, 8 steps
    default = printed_path(capsys)
    assert default.parent == run_dir / "exports" and default.name.startswith("interpolation-")
    with Image.open(default) as img:
        assert img.size == (8 * 30 + 2, 2 * 30 + 2)


def test_interpolate_as_gif(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "walk.gif"
    argv = ["sample", str(run_dir), "--interpolate", "4", "--gif", "--steps", "3", "--fps", "5"]
    assert run(argv + ["-o", str(out)]) == 0
    assert printed_path(capsys) == out
    with Image.open(out) as img:
        assert img.n_frames == 4 and img.info["duration"] == 200  # 0, ½, 1, ½


def test_truncated_sample(run_dir: Path, tmp_path: Path, capsys) -> None:
    argv = ["sample", str(run_dir), "-n", "4", "--seed", "7", "--truncation", "0.5", "-o"]
    assert run(argv + [str(tmp_path)]) == 0
    path = printed_path(capsys)
    assert path.parent == tmp_path and path.name.endswith("-seed_7-trunc_0.5.png")
    assert run(["sample", str(run_dir), "-n", "4", "--seed", "7", "-o", str(tmp_path)]) == 0
    assert printed_path(capsys).read_bytes() != path.read_bytes()


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--interpolate", "0"], "interpolate: 0 is not allowed"),
        (["--interpolate", "99"], "interpolate: 99 is not allowed"),
        (["--interpolate", "two"], "invalid int value: 'two'"),
        (["--interpolate", "2", "--steps", "1"], "steps: 1 is not allowed"),
        (["--interpolate", "2", "--gif", "--fps", "0"], "fps: 0 is not allowed"),
        (["--interpolate", "2", "--gif", "-o", "{tmp}/a.png"], "must end in .gif"),
        (["--interpolate", "2", "--truncation", "0"], "truncation: 0 is not allowed"),
        (["--gif"], "go with --interpolate K"),
        (["--steps", "4"], "go with --interpolate K"),
        (["--truncation", "0"], "truncation: 0 is not allowed"),
        (["--truncation", "-0.5"], "truncation: -0.5 is not allowed"),
        (["--truncation", "nan"], "truncation: nan is not allowed"),
        (["--truncation", "inf"], "truncation: inf is not allowed"),
        (["--truncation", "wide"], "invalid float value: 'wide'"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    run_dir: Path, tmp_path: Path, capsys, flags: list[str], says: str
) -> None:
    before = sorted((run_dir / "exports").glob("*")) if (run_dir / "exports").is_dir() else []
    argv = ["sample", str(run_dir), *(f.format(tmp=tmp_path) for f in flags)]
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    assert says in captured.err
    after = sorted((run_dir / "exports").glob("*")) if (run_dir / "exports").is_dir() else []
    assert after == before and list(tmp_path.iterdir()) == []  # nothing written
