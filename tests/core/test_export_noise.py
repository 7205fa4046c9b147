"""core.export with chosen noise: interpolation walks (PNG rows, GIF frames) and truncated samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import export
from core.checkpoints import latest_checkpoint, load_generator
from core.errors import UsageError
from core.grids import image_grid
from core.noise import truncated_noise
from tests.fakes import trained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TILE = 28 + 2  # a 28×28 sample and its padding


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The final checkpoint of a 2-step tiny MNIST run."""
    return latest_checkpoint(trained_run(tmp_path_factory.mktemp("noise") / "run"))


def tiles(path: Path, rows: int, cols: int) -> np.ndarray:
    """The rows × cols tiles of a grid PNG, each 28×28×3 without its padding."""
    with Image.open(path) as img:
        assert img.size == (cols * TILE + 2, rows * TILE + 2)
        picture = np.asarray(img.convert("RGB"))
    return np.array(
        [
            [
                picture[2 + r * TILE : r * TILE + TILE, 2 + c * TILE : c * TILE + TILE]
                for c in range(cols)
            ]
            for r in range(rows)
        ]
    )


def drawn(checkpoint: Path, noise: torch.Tensor) -> np.ndarray:
    """The tiles G draws from `noise`, one per row of it, as the grid module renders them."""
    generator, _, _ = load_generator(checkpoint)
    with torch.no_grad():
        grid = image_grid(generator(noise), cols=1)
    return np.array([grid[2 + i * TILE : i * TILE + TILE, 2:TILE] for i in range(len(noise))])


def test_interpolation_rows_walk_from_one_random_sample_to_another(
    checkpoint: Path, tmp_path: Path
) -> None:
    rows, steps = 3, 5
    path = export.interpolate_from_checkpoint(
        checkpoint, rows, steps, seed=4, truncation=0.9, out=tmp_path / "walk.png"
    )
    assert path == tmp_path / "walk.png"
    grid = tiles(path, rows, steps)
    latent = load_generator(checkpoint)[1].latent_dim
    ends = truncated_noise(2 * rows, latent, 0.9, torch.Generator().manual_seed(4))
    assert np.array_equal(grid[:, 0], drawn(checkpoint, ends[0::2]))
    assert np.array_equal(grid[:, -1], drawn(checkpoint, ends[1::2]))
    # the steps between are new pictures, not copies of the ends
    assert not np.array_equal(grid[:, 2], grid[:, 0]) and not np.array_equal(
        grid[:, 2], grid[:, -1]
    )
    again = export.interpolate_from_checkpoint(
        checkpoint, rows, steps, seed=4, truncation=0.9, out=tmp_path / "again.png"
    )
    assert again.read_bytes() == path.read_bytes()
    other = export.interpolate_from_checkpoint(checkpoint, rows, steps, seed=5, out=tmp_path)
    assert other.name == "interpolation-step_00000002-seed_5.png"
    assert other.read_bytes() != path.read_bytes()


def test_interpolation_gif_goes_along_the_path_and_back(checkpoint: Path, tmp_path: Path) -> None:
    rows, steps, fps = 4, 6, 10
    path = export.interpolate_from_checkpoint(
        checkpoint, rows, steps, seed=1, gif=True, fps=fps, out=tmp_path / "walk.gif"
    )
    frames = []
    with Image.open(path) as img:
        assert img.format == "GIF" and img.n_frames == 2 * steps - 2
        for i in range(img.n_frames):
            img.seek(i)
            assert img.info["duration"] == 1000 // fps
            frames.append(np.asarray(img.convert("RGB")))
    side = math.ceil(math.sqrt(rows)) * TILE + 2  # each frame: every walk at one step
    assert frames[0].shape == (side + export.LABEL_HEIGHT, side, 3)
    assert np.array_equal(frames[1], frames[-1]) and np.array_equal(frames[2], frames[-2])
    assert not np.array_equal(frames[0], frames[steps - 1])
    default = export.interpolate_from_checkpoint(checkpoint, 2, gif=True)
    assert default.parent == checkpoint.parent.parent / "exports"
    with Image.open(default) as img:
        assert img.n_frames == 2 * export.DEFAULT_GIF_STEPS - 2


def test_truncated_samples(checkpoint: Path, tmp_path: Path) -> None:
    plain = export.sample_from_checkpoint(checkpoint, n=9, seed=3, out=tmp_path / "plain.png")
    # nothing beyond ±1e6: the same noise, so the same picture
    wide = export.sample_from_checkpoint(
        checkpoint, n=9, seed=3, truncation=1e6, out=tmp_path / "wide.png"
    )
    assert wide.read_bytes() == plain.read_bytes()
    narrow = export.sample_from_checkpoint(checkpoint, n=9, seed=3, truncation=0.5, out=tmp_path)
    assert narrow.name == "sample-step_00000002-seed_3-trunc_0.5.png"
    latent = load_generator(checkpoint)[1].latent_dim
    noise = truncated_noise(9, latent, 0.5, torch.Generator().manual_seed(3))
    expected = drawn(checkpoint, noise)
    assert np.array_equal(tiles(narrow, 3, 3).reshape(9, 28, 28, 3), expected)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"rows": 0}, "interpolate: 0 is not allowed"),
        ({"rows": export.MAX_ROWS + 1}, f"interpolate: {export.MAX_ROWS + 1}"),
        ({"rows": 2, "steps": 1}, "steps: 1 is not allowed"),
        ({"rows": 2, "truncation": 0.0}, "truncation: 0 is not allowed"),
        ({"rows": 2, "truncation": -1.0}, "truncation: -1 is not allowed"),
        ({"rows": 2, "truncation": 0.001}, "truncation: 0.001 is not allowed"),
        ({"rows": 2, "truncation": math.nan}, "truncation: nan is not allowed"),
        ({"rows": 2, "truncation": math.inf}, "truncation: inf is not allowed"),
        ({"rows": 2, "gif": True, "fps": 0.0}, "fps: 0 is not allowed"),
        ({"rows": 2, "seed": -1}, "seed: -1 is not allowed"),
        ({"rows": 2, "gif": True, "out": "walk.png"}, "must end in .gif"),
        ({"rows": 2, "out": "walk.gif"}, "must end in .png"),
    ],
)
def test_bad_requests_are_usage_errors_before_any_loading(
    tmp_path: Path, kwargs: dict, says: str
) -> None:
    missing = tmp_path / "no-such.pt"  # never opened: the mistake is found first
    with pytest.raises(UsageError) as info:
        export.interpolate_from_checkpoint(missing, **kwargs)
    assert says in str(info.value) and "\n" not in str(info.value)
    if "truncation" in kwargs:
        with pytest.raises(UsageError, match="truncation"):
            export.sample_from_checkpoint(missing, truncation=kwargs["truncation"])


def test_interpolating_a_toy_generator_draws_the_walks_as_points(tmp_path: Path) -> None:
    trained_run(tmp_path / "toy", "ring8-mlp", batch_size=32, subset=64)
    out = export.interpolate_from_checkpoint(
        latest_checkpoint(tmp_path / "toy"), 3, 10, seed=1, out=tmp_path / "s.png"
    )
    with Image.open(out) as img:
        assert img.size == (256, 256)
        white = (np.asarray(img.convert("RGB")) == 255).all(axis=2)
    assert white.sum() >= 3  # the walks' points (the modes are red crosses)
