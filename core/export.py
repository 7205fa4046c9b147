"""Exports of a run: a GIF of its fixed-noise grids, the latest grid, new samples and plain weights."""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.errors import ExportError, UsageError
from core.events import SamplesSaved
from core.rundir import EVENTS_FILE, RunDir, atomic_write, read_events

if TYPE_CHECKING:
    import torch

Progress = Callable[[int, int], None]  # (frames done, frames in all)

DEFAULT_FPS = 4.0
MAX_FPS = 50.0  # GIF delays are in 1/100 s and most viewers slow anything faster than 1/50 s
LABEL_HEIGHT = 16
# Interpolations: rows of walks, steps along each (ends included), frames per second of the GIF.
MAX_ROWS, MAX_STEPS = 32, 64
DEFAULT_STEPS, DEFAULT_GIF_STEPS, DEFAULT_PATH_FPS = 8, 24, 12.0
# Below this ψ the redrawing takes thousands of rounds and every sample is the same picture.
MIN_TRUNCATION = 0.01
_SAMPLE_NAME = re.compile(r"^step_(\d+)\.png$")


@dataclass(frozen=True)
class SampleGrid:
    """One fixed-noise grid of a run: its file, step and (when the event log knows it) epoch."""

    path: Path
    step: int
    epoch: int | None

    @property
    def label(self) -> str:
        return (
            f"step {self.step}" if self.epoch is None else f"epoch {self.epoch}  step {self.step}"
        )


def sample_grids(run_dir: str | Path) -> list[SampleGrid]:
    """The run's sample grids, oldest first, with epochs from its `samples_saved` events."""
    run = _run(run_dir)
    epochs: dict[str, int] = {}
    for event in read_events(run.events):
        if isinstance(event, SamplesSaved):
            epochs[Path(event.path).name] = event.epoch
    grids = []
    for path in run.samples.glob("step_*.png") if run.samples.is_dir() else ():
        match = _SAMPLE_NAME.match(path.name)
        if match:
            grids.append(SampleGrid(path, int(match.group(1)), epochs.get(path.name)))
    return sorted(grids, key=lambda g: g.step)


def export_gif(
    run_dir: str | Path,
    out: str | Path | None = None,
    fps: float = DEFAULT_FPS,
    every: int = 1,
    progress: Progress | None = None,
) -> Path:
    """An animated GIF of every `every`-th fixed-noise grid (and always the last), each labelled with
    its epoch and step; written atomically, by default into RUN_DIR/exports/."""
    if not 0 < fps <= MAX_FPS:
        raise UsageError(f"fps: {fps:g} is not allowed; expected a number in (0, {MAX_FPS:g}]")
    if every < 1:
        raise UsageError(f"every: {every} is not allowed; expected a whole number ≥ 1")
    grids = _need_grids(run_dir)
    chosen = grids[::every]
    if chosen[-1] is not grids[-1]:
        chosen.append(grids[-1])  # the GIF ends on where the run is now
    path = _out_path(
        out, RunDir(run_dir).exports / f"samples-step_{grids[-1].step:08d}.gif", ".gif"
    )
    frames = []
    for i, grid in enumerate(chosen):
        frames.append(_labelled(_read_rgb(grid.path), grid.label))
        if progress is not None:
            progress(i + 1, len(chosen))
    size = frames[0].shape[:2]
    frames = [f if f.shape[:2] == size else _resize(f, size) for f in frames]
    import imageio.v3 as iio

    buffer = io.BytesIO()
    # imageio v3's pillow plugin takes the GIF frame duration in milliseconds (not seconds).
    iio.imwrite(
        buffer,
        np.stack(frames),
        extension=".gif",
        plugin="pillow",
        duration=round(1000 / fps),
        loop=0,
    )
    return _write(path, buffer.getvalue())


def export_grid(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """The run's latest fixed-noise grid as PNG, by default into RUN_DIR/exports/."""
    latest = _need_grids(run_dir)[-1]
    path = _out_path(out, RunDir(run_dir).exports / f"grid-step_{latest.step:08d}.png", ".png")
    try:
        data = latest.path.read_bytes()
    except OSError as exc:
        raise ExportError(f"{latest.path}: cannot read: {exc.strerror or exc}") from None
    return _write(path, data)


def sample_from_checkpoint(
    checkpoint: str | Path,
    n: int = 64,
    seed: int | None = None,
    out: str | Path | None = None,
    device: str = "cpu",
    truncation: float | None = None,
    named: Mapping[str, Any] | None = None,
) -> Path:
    """A grid (or scatter) of `n` new samples from a checkpoint's generator, drawn on `device`
    (auto, cpu, cuda:N); with `truncation` ψ from noise with no component beyond ±ψ; a plug-in
    arch only when `named` names it (core.plugins.require_named).

    Without `seed` every call draws new noise; with it the picture is reproducible. The default
    output is the run's exports/ folder (or the checkpoint's own folder outside a run).
    """
    import torch

    from core.checkpoints import load_generator
    from core.grids import samples_picture
    from core.noise import truncated_noise

    if not 1 <= n <= 1024:
        raise UsageError(f"n: {n} is not allowed; expected a whole number in [1, 1024]")
    check_seed(seed)
    check_truncation(truncation)
    from core.step import resolve_device

    where = resolve_device(device)
    generator, config, payload = load_generator(checkpoint, named)
    rng = _noise_rng(seed)
    # the noise from the CPU generator: the same picture for a seed on any device
    with torch.no_grad():
        samples = generator.to(where)(
            truncated_noise(n, config.latent_dim, truncation, rng).to(where)
        ).cpu()
    path = _drawn_path(checkpoint, payload, "sample", seed, truncation, out, ".png")
    buffer = io.BytesIO()
    Image.fromarray(samples_picture(samples, config.dataset)).save(buffer, format="PNG")
    return _write(path, buffer.getvalue())


def interpolate_from_checkpoint(
    checkpoint: str | Path,
    rows: int,
    steps: int | None = None,
    seed: int | None = None,
    truncation: float | None = None,
    gif: bool = False,
    fps: float = DEFAULT_PATH_FPS,
    out: str | Path | None = None,
    device: str = "cpu",
    named: Mapping[str, Any] | None = None,
) -> Path:
    """`rows` walks through the noise space of a checkpoint's generator, each a spherical
    interpolation in `steps` steps between two random noise vectors (truncated at ±`truncation`).

    As PNG: one row per walk. As GIF (`gif`): one frame per step showing every walk at that step,
    going there and back so the loop has no jump. Default output: the run's exports/ folder.
    """
    import torch

    from core.checkpoints import load_generator
    from core.grids import samples_picture
    from core.noise import interpolation_noise

    suffix = ".gif" if gif else ".png"
    steps = check_interpolation(rows, steps, seed, truncation, gif, fps)
    if out is not None and not Path(out).is_dir():
        _out_path(out, Path("x" + suffix), suffix)  # a wrong suffix is a usage error before loading
    from core.step import resolve_device

    where = resolve_device(device)
    generator, config, payload = load_generator(checkpoint, named)
    noise = interpolation_noise(rows, steps, config.latent_dim, truncation, _noise_rng(seed))
    with torch.no_grad():
        generator = generator.to(where)
        samples = torch.cat([generator(chunk.to(where)).cpu() for chunk in torch.split(noise, 256)])
    path = _drawn_path(checkpoint, payload, "interpolation", seed, truncation, out, suffix)
    buffer = io.BytesIO()
    if not gif:
        Image.fromarray(samples_picture(samples, config.dataset, cols=steps)).save(buffer, "PNG")
        return _write(path, buffer.getvalue())
    walks = samples.reshape(rows, steps, *samples.shape[1:])
    frames = [
        _labelled(samples_picture(walks[:, i], config.dataset), f"t = {i / (steps - 1):.2f}")
        for i in range(steps)
    ]
    import imageio.v3 as iio

    iio.imwrite(
        buffer,
        np.stack(frames + frames[-2:0:-1]),  # back along the path: the loop closes smoothly
        extension=".gif",
        plugin="pillow",
        duration=round(1000 / fps),
        loop=0,
    )
    return _write(path, buffer.getvalue())


def check_seed(seed: int | None) -> None:
    """A noise seed must fit torch's generator."""
    if seed is not None and not 0 <= seed < 2**63:
        raise UsageError(f"seed: {seed} is not allowed; expected a whole number in [0, 2^63)")


def check_interpolation(
    rows: int,
    steps: int | None = None,
    seed: int | None = None,
    truncation: float | None = None,
    gif: bool = False,
    fps: float = DEFAULT_PATH_FPS,
) -> int:
    """UsageError for a request `interpolate_from_checkpoint` cannot draw (checked before anything
    is loaded, and without torch so forms can ask); the number of steps it will draw."""
    if not 1 <= rows <= MAX_ROWS:
        raise UsageError(
            f"interpolate: {rows} is not allowed; expected a whole number in [1, {MAX_ROWS}]"
        )
    steps = steps if steps is not None else (DEFAULT_GIF_STEPS if gif else DEFAULT_STEPS)
    if not 2 <= steps <= MAX_STEPS:
        raise UsageError(
            f"steps: {steps} is not allowed; expected a whole number in [2, {MAX_STEPS}]"
        )
    if gif and not 0 < fps <= MAX_FPS:
        raise UsageError(f"fps: {fps:g} is not allowed; expected a number in (0, {MAX_FPS:g}]")
    check_seed(seed)
    check_truncation(truncation)
    return steps


def check_truncation(truncation: float | None) -> None:
    """A truncation ψ: finite and at least MIN_TRUNCATION (no torch needed, so forms can ask)."""
    if truncation is not None and not MIN_TRUNCATION <= truncation < math.inf:
        raise UsageError(
            f"truncation: {truncation:g} is not allowed; expected a number ≥ {MIN_TRUNCATION:g}"
        )


def export_weights(
    checkpoint: str | Path,
    out_dir: str | Path | None = None,
    named: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Plain `generator.pth` and `discriminator.pth` state dicts (and `generator_ema.pth`, the moving
    average of G, when the run kept one) and `config.json` for other code.

    The state dicts load with `torch.load(path, weights_only=True)` into the models that
    `core.models.build_models(TrainConfig.from_dict(json.load(config.json)))` builds.
    """
    import torch

    from core.checkpoints import load_checkpoint_config, models_of

    payload, config = load_checkpoint_config(checkpoint)
    # weights that do not fit their config are no export
    models_of(checkpoint, payload, config, named)
    if out_dir is None:
        out_dir = _exports_of(checkpoint) / f"weights-step_{int(payload['step']):08d}"
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder}: exists and is not a directory")
    written = []
    for name in ("generator", "discriminator", "generator_ema"):
        if name not in payload:
            continue
        buffer = io.BytesIO()
        torch.save(payload[name], buffer)
        written.append(_write(folder / f"{name}.pth", buffer.getvalue()))
    config = json.dumps(payload["config"], indent=2, sort_keys=True) + "\n"
    written.append(_write(folder / "config.json", config.encode()))
    return written


# -- helpers ----------------------------------------------------------------------------------------


def _noise_rng(seed: int | None) -> torch.Generator:
    import torch

    return torch.Generator().manual_seed(
        seed if seed is not None else int.from_bytes(os.urandom(7), "little")
    )


def _drawn_path(
    checkpoint: str | Path,
    payload: Mapping[str, Any],
    kind: str,
    seed: int | None,
    truncation: float | None,
    out: str | Path | None,
    suffix: str,
) -> Path:
    """Where new samples of a checkpoint go: `out`, or by default the run's exports/ folder (the
    checkpoint's own folder outside a run), named by `kind`, the step, the seed and truncation."""
    name = f"{kind}-step_{int(payload['step']):08d}{_noise_suffix(seed, truncation)}{suffix}"
    return _out_path(out, _exports_of(checkpoint) / name, suffix)


def _exports_of(checkpoint: str | Path) -> Path:
    """The default folder of what is made from a checkpoint: its run's exports/ folder, or the
    checkpoint's own folder outside a run."""
    from core.checkpoints import run_dir_of

    run_dir = run_dir_of(checkpoint)
    return RunDir(run_dir).exports if run_dir else Path(checkpoint).resolve().parent


def _noise_suffix(seed: int | None, truncation: float | None) -> str:
    """`-seed_3-trunc_0.7` in a default file name: what makes the picture again."""
    return (f"-seed_{seed}" if seed is not None else "") + (
        f"-trunc_{truncation:g}" if truncation is not None else ""
    )


def _run(run_dir: str | Path) -> RunDir:
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise ExportError(f"{run.path}: no such run directory")
    if not run.samples.is_dir() and not (run.path / EVENTS_FILE).is_file():
        raise ExportError(f"{run.path}: not a tui-gan run directory (no samples/ or {EVENTS_FILE})")
    return run


def _need_grids(run_dir: str | Path) -> list[SampleGrid]:
    grids = sample_grids(run_dir)
    if not grids:
        raise ExportError(
            f"{run_dir}: no sample grids yet in {RunDir(run_dir).samples} "
            "(they appear every sample_every steps)"
        )
    return grids


def _out_path(out: str | Path | None, default: Path, suffix: str) -> Path:
    if out is None:
        return default
    path = Path(out)
    if path.is_dir():
        return path / default.name
    if path.suffix.lower() != suffix:
        raise UsageError(f"{path}: the output name must end in {suffix}")
    return path


def _write(path: Path, data: bytes) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def _read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
        raise ExportError(f"{path}: unreadable sample grid ({exc})") from None


def _labelled(picture: np.ndarray, label: str) -> np.ndarray:
    """The picture under a dark strip holding `label`."""
    h, w = picture.shape[:2]
    canvas = Image.new("RGB", (w, h + LABEL_HEIGHT), (24, 24, 24))
    canvas.paste(Image.fromarray(picture), (0, LABEL_HEIGHT))
    font = ImageFont.load_default(size=LABEL_HEIGHT - 4)
    ImageDraw.Draw(canvas).text((3, 1), label, fill=(235, 235, 235), font=font)
    return np.asarray(canvas)


def _resize(picture: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    return np.asarray(Image.fromarray(picture).resize((size[1], size[0]), Image.Resampling.NEAREST))
