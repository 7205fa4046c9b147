"""Exports of a run: a GIF of its fixed-noise grids, the latest grid, new samples and plain weights."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.errors import ExportError, UsageError
from core.events import SamplesSaved
from core.rundir import EVENTS_FILE, RunDir, atomic_write, read_events

Progress = Callable[[int, int], None]  # (frames done, frames in all)

DEFAULT_FPS = 4.0
MAX_FPS = 50.0  # GIF delays are in 1/100 s and most viewers slow anything faster than 1/50 s
LABEL_HEIGHT = 16
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
    named: Mapping[str, Any] | None = None,
) -> Path:
    """A grid (or scatter) of `n` new samples from a checkpoint's generator, drawn on `device`
    (auto, cpu, cuda:N); a plug-in arch only when `named` names it (core.plugins.require_named).

    Without `seed` every call draws new noise; with it the picture is reproducible. The default
    output is the run's exports/ folder (or the checkpoint's own folder outside a run).
    """
    import torch

    from core.checkpoints import load_generator, run_dir_of
    from core.grids import samples_picture

    if not 1 <= n <= 1024:
        raise UsageError(f"n: {n} is not allowed; expected a whole number in [1, 1024]")
    if seed is not None and not 0 <= seed < 2**63:
        raise UsageError(f"seed: {seed} is not allowed; expected a whole number in [0, 2^63)")
    from core.step import resolve_device

    where = resolve_device(device)
    generator, config, payload = load_generator(checkpoint, named)
    rng = torch.Generator().manual_seed(
        seed if seed is not None else int.from_bytes(os.urandom(7), "little")
    )
    # the noise from the CPU generator: the same picture for a seed on any device
    with torch.no_grad():
        samples = generator.to(where)(
            torch.randn(n, config.latent_dim, generator=rng).to(where)
        ).cpu()
    step = int(payload["step"])
    name = f"sample-step_{step:08d}" + (f"-seed_{seed}" if seed is not None else "") + ".png"
    run_dir = run_dir_of(checkpoint)
    default = (RunDir(run_dir).exports if run_dir else Path(checkpoint).resolve().parent) / name
    path = _out_path(out, default, ".png")
    buffer = io.BytesIO()
    Image.fromarray(samples_picture(samples, config.dataset)).save(buffer, format="PNG")
    return _write(path, buffer.getvalue())


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

    from core.checkpoints import load_checkpoint_config, models_of, run_dir_of

    payload, config = load_checkpoint_config(checkpoint)
    models_of(
        checkpoint, payload, config, named
    )  # weights that do not fit their config are no export
    if out_dir is None:
        run_dir = run_dir_of(checkpoint)
        base = RunDir(run_dir).exports if run_dir else Path(checkpoint).resolve().parent
        out_dir = base / f"weights-step_{int(payload['step']):08d}"
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
