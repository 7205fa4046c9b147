"""core.export: the GIF of a run's grids, the latest grid, new samples and plain weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import events as ev
from core import export
from core.checkpoints import latest_checkpoint, load_checkpoint
from core.config import TrainConfig
from core.errors import ExportError, UsageError, UserError
from core.models import build_models
from core.trainer import Trainer
from tests.fakes import trained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GRID = 4 * (28 + 2) + 2  # 16 samples of 28×28 in a 4×4 grid with 2-pixel padding


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished tiny run with fixed-noise grids at steps 2, 4, 6 and 8 (epoch 1 has 4 steps)."""
    return trained_run(
        tmp_path_factory.mktemp("export") / "run",
        subset=32,
        n_samples=16,
        sample_every=2,
        checkpoint_every=0,
        max_steps=8,
        epochs=10,
    )


def gif_frames(path: Path) -> list[tuple[Image.Image, int]]:
    """Each frame (as RGB) with the duration in milliseconds that the file really holds."""
    frames = []
    with Image.open(path) as img:
        assert img.format == "GIF"
        for i in range(img.n_frames):
            img.seek(i)
            frames.append((img.convert("RGB"), img.info["duration"]))
    return frames


def test_sample_grids_know_their_epoch_and_step(run_dir: Path) -> None:
    grids = export.sample_grids(run_dir)
    assert [(g.step, g.epoch) for g in grids] == [(2, 1), (4, 1), (6, 2), (8, 2)]
    assert grids[-1].label == "epoch 2  step 8"


def test_without_an_event_log_the_label_falls_back_to_the_step(
    run_dir: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(run_dir, tmp_path / "run"))
    (copy / "events.jsonl").unlink()
    assert [g.label for g in export.sample_grids(copy)] == [f"step {s}" for s in (2, 4, 6, 8)]


@pytest.mark.parametrize(
    ("fps", "every", "steps"), [(4, 1, [2, 4, 6, 8]), (2, 3, [2, 8]), (10, 2, [2, 6, 8])]
)
def test_gif_frames_size_and_duration(
    run_dir: Path, tmp_path: Path, fps: int, every: int, steps: list[int]
) -> None:
    progress: list[tuple[int, int]] = []
    out = export.export_gif(
        run_dir,
        tmp_path / "run.gif",
        fps=fps,
        every=every,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert out == tmp_path / "run.gif"
    frames = gif_frames(out)
    assert len(frames) == len(steps)
    assert all(f.size == (GRID, GRID + export.LABEL_HEIGHT) for f, _ in frames)
    assert [ms for _, ms in frames] == [1000 // fps] * len(steps)  # milliseconds, not seconds
    assert progress == [(i + 1, len(steps)) for i in range(len(steps))]
    with Image.open(out) as img:
        assert img.info.get("loop") == 0  # plays forever


def test_gif_frames_carry_a_label_strip_above_the_grid(run_dir: Path, tmp_path: Path) -> None:
    frames = [np.asarray(f) for f, _ in gif_frames(export.export_gif(run_dir, tmp_path / "a.gif"))]
    strips = [f[: export.LABEL_HEIGHT] for f in frames]
    assert all((s > 200).any() for s in strips)  # light text on the dark strip
    assert not np.array_equal(strips[0], strips[-1])  # "epoch 1 step 2" vs "epoch 2 step 8"
    grid = np.asarray(Image.open(run_dir / "samples" / "step_00000008.png").convert("RGB")).astype(
        int
    )
    assert (
        np.abs(frames[-1][export.LABEL_HEIGHT :].astype(int) - grid).mean() < 8
    )  # palette rounding only


def test_default_outputs_go_to_exports(run_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(run_dir, tmp_path / "run"))
    gif = export.export_gif(copy)
    grid = export.export_grid(copy)
    assert gif == copy / "exports" / "samples-step_00000008.gif"
    assert grid == copy / "exports" / "grid-step_00000008.png"
    assert grid.read_bytes() == (copy / "samples" / "step_00000008.png").read_bytes()
    assert not [
        p for p in (copy / "exports").iterdir() if p.name.startswith(".")
    ]  # no temp files left
    into_dir = export.export_grid(copy, tmp_path)
    assert into_dir == tmp_path / "grid-step_00000008.png"


@pytest.mark.slow
def test_sample_from_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    checkpoint = latest_checkpoint(run_dir)
    rng_before = torch.get_rng_state()
    a = export.sample_from_checkpoint(checkpoint, n=9, seed=5, out=tmp_path / "a.png")
    b = export.sample_from_checkpoint(checkpoint, n=9, seed=5, out=tmp_path / "b.png")
    c = export.sample_from_checkpoint(checkpoint, n=9, seed=6, out=tmp_path / "c.png")
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is left alone
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    with Image.open(a) as img:
        assert img.size == (3 * 30 + 2, 3 * 30 + 2)
    default = export.sample_from_checkpoint(checkpoint, n=4)
    assert default.parent == run_dir / "exports" and default.name.startswith("sample-step_00000008")


def test_sample_from_a_toy_checkpoint_is_a_scatter(tmp_path: Path) -> None:
    config = TrainConfig.from_preset(
        "ring8-mlp",
        width=4,
        batch_size=32,
        subset=64,
        device="cpu",
        max_steps=2,
        sample_every=0,
        run_dir=str(tmp_path / "toy"),
    )
    assert Trainer(config).run() == ev.FINISHED
    out = export.sample_from_checkpoint(
        latest_checkpoint(tmp_path / "toy"), n=100, seed=1, out=tmp_path / "s.png"
    )
    with Image.open(out) as img:
        assert img.size == (256, 256)


def test_export_weights_loads_into_plain_models(run_dir: Path, tmp_path: Path) -> None:
    checkpoint = latest_checkpoint(run_dir)
    written = export.export_weights(checkpoint, tmp_path / "w")
    # the preset keeps a moving average of G (g_ema): it is exported beside the live G
    assert [p.name for p in written] == [
        "generator.pth",
        "discriminator.pth",
        "generator_ema.pth",
        "config.json",
    ]
    config = TrainConfig.from_dict(json.loads((tmp_path / "w" / "config.json").read_text()))
    g, d = build_models(config)
    average, _ = build_models(config)
    g.load_state_dict(torch.load(tmp_path / "w" / "generator.pth", weights_only=True))
    d.load_state_dict(torch.load(tmp_path / "w" / "discriminator.pth", weights_only=True))
    average.load_state_dict(torch.load(tmp_path / "w" / "generator_ema.pth", weights_only=True))
    saved = load_checkpoint(checkpoint)
    assert all(torch.equal(v, saved["generator"][k]) for k, v in g.state_dict().items())
    assert all(torch.equal(v, saved["generator_ema"][k]) for k, v in average.state_dict().items())
    assert not all(torch.equal(v, saved["generator"][k]) for k, v in average.state_dict().items())
    default = export.export_weights(checkpoint)
    assert default[0].parent == run_dir / "exports" / "weights-step_00000008"


def test_export_weights_without_a_moving_average_writes_g_and_d(tmp_path: Path) -> None:
    config = TrainConfig.from_preset(
        "mnist-dcgan",
        width=4,
        batch_size=8,
        subset=16,
        device="cpu",
        max_steps=2,
        sample_every=0,
        g_ema=0.0,
        run_dir=str(tmp_path / "run"),
    )
    assert Trainer(config).run() == ev.FINISHED
    written = export.export_weights(latest_checkpoint(tmp_path / "run"), tmp_path / "w")
    assert [p.name for p in written] == ["generator.pth", "discriminator.pth", "config.json"]


def _bad_call(case: str, run_dir: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    (empty / "samples").mkdir(parents=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    checkpoint = latest_checkpoint(run_dir)
    return {
        "no-samples": (lambda: export.export_gif(empty), "no sample grids yet"),
        "no-samples-grid": (lambda: export.export_grid(empty), "no sample grids yet"),
        "missing-dir": (lambda: export.export_gif(tmp_path / "nope"), "no such run directory"),
        "not-a-run": (lambda: export.export_gif(tmp_path), "not a tui-gan run directory"),
        "bad-fps": (lambda: export.export_gif(run_dir, tmp_path / "x.gif", fps=0), "fps"),
        "bad-every": (lambda: export.export_gif(run_dir, tmp_path / "x.gif", every=0), "every"),
        "wrong-suffix": (
            lambda: export.export_gif(run_dir, tmp_path / "x.png"),
            "must end in .gif",
        ),
        "unwritable": (lambda: export.export_grid(run_dir, blocker / "x.png"), "cannot write"),
        "weights-unwritable": (
            lambda: export.export_weights(checkpoint, blocker),
            "not a directory",
        ),
        "bad-n": (lambda: export.sample_from_checkpoint(checkpoint, n=0), "n: 0"),
        "bad-checkpoint": (
            lambda: export.sample_from_checkpoint(blocker),
            "not a tui-gan checkpoint",
        ),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "no-samples",
        "no-samples-grid",
        "missing-dir",
        "not-a-run",
        "bad-fps",
        "bad-every",
        "wrong-suffix",
        "unwritable",
        "weights-unwritable",
        "bad-n",
        "bad-checkpoint",
    ],
)
def test_bad_input_is_one_line_user_error(run_dir: Path, tmp_path: Path, case: str) -> None:
    call, expected = _bad_call(case, run_dir, tmp_path)
    with pytest.raises(UserError) as info:
        call()
    assert expected in str(info.value) and "\n" not in str(info.value)
    if case in (
        "bad-fps",
        "bad-every",
        "wrong-suffix",
        "bad-n",
    ):  # mistakes in what was asked: exit 2
        assert isinstance(info.value, UsageError)
    elif case != "bad-checkpoint":
        assert isinstance(info.value, ExportError)
