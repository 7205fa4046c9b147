"""A run's scalars and sample grids as a TensorBoard event file (W&B and Aim import those too).

Written with the `tensorboard` package's own record writer and protobufs: the format's reference,
with no torch (torch.utils.tensorboard wraps the same writer and needs tensorboard anyway) and no
TensorFlow. `tensorboard` is an optional extra: `pip install 'tui-gan[tensorboard]'`.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from PIL import Image

from core.errors import ExportError
from core.export import sample_grids
from core.rundir import RunDir, atomic_stream
from core.scalars import EVAL, REAL_PREFIX, run_scalars

INSTALL_HINT = (
    "TensorBoard export needs the tensorboard package: pip install 'tui-gan[tensorboard]'"
)
SUFFIX = ".tui-gan"  # marks our event files, so a new export of a run replaces the old one
SAMPLES_TAG = "samples"
# Tags: grouped as TensorBoard shows them (one section per prefix).
STEP_TAGS = {
    "loss_d": "loss/D",
    "loss_g": "loss/G",
    "d_x": "D_output/D(x)",
    "d_g_z": "D_output/D(G(z))",
    "lr_g": "lr/G",
    "lr_d": "lr/D",
    "img_per_s": "speed/images_per_s",
    "memory": "memory/allocated_bytes",
    "peak_memory": "memory/peak_bytes",
}


def require_tensorboard() -> None:
    """ExportError with the line that says how to install it, when tensorboard is missing."""
    _modules()


def _modules() -> tuple[Any, Any, Any]:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:
        raise ExportError(INSTALL_HINT) from None
    return event_pb2, summary_pb2, RecordWriter


def tag_of(column: str) -> str | None:
    """The TensorBoard tag of a scalar column, or None for columns left out (counts, last_*)."""
    if column in STEP_TAGS:
        return STEP_TAGS[column]
    if column.startswith(REAL_PREFIX):
        return f"eval_real_data/{column.removeprefix(REAL_PREFIX)}"
    return None


def export_tensorboard(run_dir: str | Path, out_dir: str | Path) -> tuple[Path, int, int]:
    """Write the run's scalars and sample grids into OUT_DIR/<run name>/ as one event file, so
    `tensorboard --logdir OUT_DIR` shows it beside other runs exported there. An earlier export
    of the same run there is replaced. Returns (event file, scalar events, images)."""
    event_pb2, summary_pb2, record_writer = _modules()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a directory")
    scalars = run_scalars(run_dir)
    metrics = set(scalars.metrics)
    folder = out / RunDir(run_dir).name
    path = folder / f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}{SUFFIX}"
    grids = [g for g in _grids(run_dir) if g.step not in scalars.stale_samples]
    n_scalars = n_images = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_stream(path) as fh:
            writer = record_writer(fh)

            def write(**fields: Any) -> None:
                writer.write(event_pb2.Event(**fields).SerializeToString())

            write(wall_time=time.time(), file_version="brain.Event:2")
            pending = iter(grids)
            grid = next(pending, None)
            for row in scalars.rows():
                # each grid right before the scalars of its step: TensorBoard reads in file order
                while grid is not None and grid.step <= row.step:
                    write(**_image(summary_pb2, grid.path, grid.step, row.time))
                    n_images += 1
                    grid = next(pending, None)
                values = [
                    summary_pb2.Summary.Value(tag=tag, simple_value=value)
                    for name, value in row.values.items()
                    if (tag := _tag(name, row.event, metrics)) is not None
                ]
                if values:
                    write(
                        wall_time=row.time,
                        step=row.step,
                        summary=summary_pb2.Summary(value=values),
                    )
                    n_scalars += 1
            while grid is not None:
                write(**_image(summary_pb2, grid.path, grid.step, grid.path.stat().st_mtime))
                n_images += 1
                grid = next(pending, None)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    for old in folder.glob(f"events.out.tfevents.*{SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)
    return path, n_scalars, n_images


def _tag(name: str, event: str, metrics: set[str]) -> str | None:
    if event == EVAL and name in metrics:
        return f"eval/{name}"
    return tag_of(name)


def _grids(run_dir: str | Path) -> list[Any]:
    try:
        return sample_grids(run_dir)
    except ExportError:
        return []


def _image(summary_pb2: Any, path: Path, step: int, wall_time: float) -> dict[str, Any]:
    """The fields of an event holding one PNG grid, as the file holds it (no re-encoding)."""
    try:
        data = path.read_bytes()
        with Image.open(path) as img:
            (width, height), channels = img.size, len(img.getbands())
    except OSError as exc:
        raise ExportError(f"{path}: unreadable sample grid ({exc})") from None
    image = summary_pb2.Summary.Image(
        height=height, width=width, colorspace=channels, encoded_image_string=data
    )
    value = summary_pb2.Summary.Value(tag=SAMPLES_TAG, image=image)
    return {"wall_time": wall_time, "step": step, "summary": summary_pb2.Summary(value=[value])}
