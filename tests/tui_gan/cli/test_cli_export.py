"""`tui-gan sample`, `export`, `export-weights` and `train --resume`: paths printed, one-line errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image

from tui_gan.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A 3-step run made by the CLI itself, with a grid of 4 samples after every step."""
    path = tmp_path_factory.mktemp("cli") / "run"
    settings = (
        "width=4",
        "batch_size=8",
        "subset=32",
        "n_samples=4",
        "sample_every=1",
        "checkpoint_every=0",
    )
    argv = ["train", "--headless", "--device", "cpu", "--max-steps", "3", "--run-dir", str(path)]
    assert main(argv + [arg for s in settings for arg in ("--set", s)]) == 0
    return path


def printed_paths(capsys) -> list[Path]:
    captured = capsys.readouterr()
    assert captured.err == ""
    return [Path(line) for line in captured.out.splitlines()]


def test_sample_prints_the_grid_it_wrote(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "sample",
                str(run_dir / "checkpoints" / "step_00000003-final.pt"),
                "-n",
                "4",
                "--seed",
                "1",
                "-o",
                str(tmp_path / "g.png"),
            ]
        )
        == 0
    )
    assert printed_paths(capsys) == [tmp_path / "g.png"]
    with Image.open(tmp_path / "g.png") as img:
        assert img.size == (62, 62)
    assert (
        main(["sample", str(run_dir), "-n", "4"]) == 0
    )  # a run directory means its newest checkpoint
    [path] = printed_paths(capsys)
    assert path.parent == run_dir / "exports" and path.is_file()


def test_export_writes_gif_and_grid(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "export",
                str(run_dir),
                "--gif",
                str(tmp_path / "a.gif"),
                "--grid",
                str(tmp_path / "a.png"),
                "--fps",
                "5",
                "--every",
                "2",
            ]
        )
        == 0
    )
    assert printed_paths(capsys) == [tmp_path / "a.gif", tmp_path / "a.png"]
    with Image.open(tmp_path / "a.gif") as img:
        assert img.n_frames == 2 and img.info["duration"] == 200  # steps 1 and 3
    assert main(["export", str(run_dir), "--grid", str(tmp_path / "only.png")]) == 0
    assert printed_paths(capsys) == [tmp_path / "only.png"]


def test_export_without_outputs_writes_both_into_exports(run_dir: Path, capsys) -> None:
    assert main(["export", str(run_dir)]) == 0
    assert [p.name for p in printed_paths(capsys)] == [
        "samples-step_00000003.gif",
        "grid-step_00000003.png",
    ]


def test_export_weights(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["export-weights", str(run_dir), "--out", str(tmp_path / "w")]) == 0
    assert [p.name for p in printed_paths(capsys)] == [
        "generator.pth",
        "discriminator.pth",
        "generator_ema.pth",
        "config.json",
    ]  # the preset averages G
    assert torch.load(tmp_path / "w" / "generator.pth", weights_only=True)
    assert torch.load(tmp_path / "w" / "generator_ema.pth", weights_only=True)


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "random": tmp_path / "random.pt",
        "truncated": tmp_path / "truncated.pt",
        "plain": tmp_path / "plain.pt",
        "hostile": tmp_path / "hostile.pt",
        "missing": tmp_path / "missing.pt",
    }
    files["random"].write_bytes(os.urandom(2048))
    torch.save(torch.nn.Linear(2, 2).state_dict(), files["plain"])
    files["truncated"].write_bytes(files["plain"].read_bytes()[:200])
    evil = RunsCode()
    evil.marker = tmp_path / "MARKER"
    torch.save({"x": evil}, files["hostile"])
    return files


@pytest.mark.parametrize("command", ["sample", "export-weights", "train --headless --resume"])
@pytest.mark.parametrize("kind", ["random", "truncated", "plain", "hostile", "missing"])
def test_bad_checkpoints_are_one_line_errors(
    tmp_path: Path, capsys, command: str, kind: str
) -> None:
    path = _bad_files(tmp_path)[kind]
    assert main([*command.split(), str(path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tui-gan: error: {path}: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "MARKER").exists()


CRAFTED = {  # payloads that pass the format and version checks but are wrong inside
    "step-string": (lambda p: p | {"step": "abc"}, "field step is str"),
    "no-rng": (lambda p: {k: v for k, v in p.items() if k != "rng"}, "missing rng"),
    "version-string": (lambda p: p | {"version": "1"}, "field version is str, expected int"),
    "bad-config": (
        lambda p: p | {"config": p["config"] | {"batch_size": 0}},
        "its config cannot be used",
    ),
    "generator-misfit": (
        lambda p: (
            p
            | {
                "generator": {k: v.reshape(-1)[:1] for k, v in p["generator"].items()},
                "generator_ema": {k: v.reshape(-1)[:1] for k, v in p["generator"].items()},
            }
        ),
        "generator does not fit its config",
    ),
}


@pytest.mark.parametrize(
    "command", ["sample", "eval", "export-weights", "train --headless --resume"]
)
@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_checkpoints_are_one_line_errors_naming_file_and_field(
    run_dir: Path, tmp_path: Path, capsys, command: str, kind: str
) -> None:
    from core.checkpoints import latest_checkpoint, load_checkpoint

    if kind == "generator-misfit" and command.startswith("train"):
        pytest.skip("the trainer's own fit check names the file already")
    craft, expected = CRAFTED[kind]
    path = tmp_path / f"{kind}.pt"
    torch.save(craft(load_checkpoint(latest_checkpoint(run_dir))), path)
    status = (run_dir / "status.json").read_bytes()
    assert (
        main([*command.split(), str(path)]) == 1
    )  # a checkpoint that fails its checks is a failed command, not a usage error
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith(f"tui-gan: error: {path}: ")
        and expected in lines[0]
    ), captured.err
    assert (
        run_dir / "status.json"
    ).read_bytes() == status  # --resume did not start on the run's directory
    assert not (tmp_path / "exports").exists() and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (["export", "{tmp}/nope"], "no such run directory", 1),
        (["export", "{tmp}/empty"], "no sample grids yet", 1),
        (["export", "{run}", "--fps", "0"], "fps", 2),
        (["export", "{run}", "--gif", "{tmp}/x.png"], "must end in .gif", 2),
        (["export", "{run}", "--grid", "{tmp}/file/x.png"], "cannot write", 1),
        (["sample", "{run}", "-n", "0"], "n: 0", 2),
        (["sample", "{tmp}/empty"], "no readable checkpoint", 1),
        (["export-weights", "{run}", "--out", "{tmp}/file"], "not a directory", 1),
    ],
)
def test_other_user_errors_are_one_line(
    run_dir: Path, tmp_path: Path, capsys, args: list[str], expected: str, code: int
) -> None:
    (tmp_path / "empty" / "samples").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    assert main(argv) == code  # 2: a mistake in what was asked; 1: the command failed
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("tui-gan: error: ") and expected in err, (
        err
    )


def test_argument_mistakes_exit_2_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_pickle_helper_really_would_run_code(tmp_path: Path) -> None:
    """Guard for the tests above: the hostile file is hostile when loaded without weights_only."""
    evil = RunsCode()
    evil.marker = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(evil))
    assert (tmp_path / "MARKER").exists()
