"""First start against second start on an image folder: decoding every file (on every core)
against reading the decoded-image cache.

    python bench/folder_cache.py [--images 3000] [--side 256] [--format jpg] [--image-size 64]
        [--folder DIR] [--repeats 3] [--workers N]

Writes a folder of generated photo-like images (smooth colour fields with grain) once, then times
`load_source` (what a run's start spends on its data) with the cache emptied (first start) and
with it filled (second start), `--repeats` times each; prints the medians and their ratio. The
cache goes to a temporary XDG_CACHE_HOME, never the user's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_images(root: Path, n: int, side: int, fmt: str, seed: int = 0) -> Path:
    """`n` photo-like `side`×`side` images under `root` (kept when already there)."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    for i in range(n):
        path = root / f"{i // 1000:02d}" / f"img{i:05d}.{fmt}"
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        a, b, c = rng.uniform(0, 6, 3)
        field = np.stack(
            [np.sin(a * xx + b * yy + k) * 0.5 + 0.5 for k in rng.uniform(0, 6, 3)], -1
        )
        field = field * 200 + rng.normal(0, 12, (side, side, 3)) + c * 5
        Image.fromarray(np.clip(field, 0, 255).astype(np.uint8)).save(path)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--side", type=int, default=256, help="side of the generated files")
    parser.add_argument("--format", default="jpg", choices=("jpg", "png", "webp"))
    parser.add_argument("--image-size", type=int, default=64, help="image_size of the run")
    parser.add_argument("--folder", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="data_workers (default: cores)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tui-gan-bench-"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    folder = args.folder or tmp / "images"
    started = time.perf_counter()
    make_images(folder, args.images, args.side, args.format)
    print(
        f"{args.images} {args.side}×{args.side} {args.format} files in {folder} "
        f"({time.perf_counter() - started:.1f} s to write)"
    )

    import torch

    from core import foldercache
    from core.config import TrainConfig
    from core.data import load_source
    from core.images import default_workers

    config = TrainConfig.from_preset(
        "cifar10-dcgan32",
        dataset="folder",
        data_root=str(folder),
        image_size=args.image_size,
        channels=3,
        device="cpu",
        data_workers=args.workers,
    )
    cpu = torch.device("cpu")
    first, second = [], []
    for _ in range(args.repeats):
        foldercache.clear()
        t0 = time.perf_counter()
        a = load_source(config, cpu)
        first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = load_source(config, cpu)
        second.append(time.perf_counter() - t0)
        assert torch.equal(a.images, b.images)  # type: ignore[attr-defined]
    f, s = statistics.median(first), statistics.median(second)
    workers = default_workers() if args.workers is None else args.workers
    print(
        f"data_workers {workers} (cores this process may use: {default_workers()}), "
        f"image_size {args.image_size}"
    )
    print(f"first start (decode):  {f:7.3f} s   ({args.images / f:,.0f} images/s)  runs {first}")
    print(f"second start (cache):  {s:7.3f} s   ({args.images / s:,.0f} images/s)  runs {second}")
    print(f"second start is {f / s:.1f}× faster")
    foldercache.clear()


if __name__ == "__main__":
    main()
