"""Images/s of an image folder's batches preloaded against streamed from disk.

    python bench/stream.py [--images 3000] [--side 256] [--format jpg] [--image-size 64]
        [--batch 64] [--epochs 2] [--workers 0 2] [--folder DIR]

The same generated folder as bench/folder_cache.py; the preloaded source (decoded once, from the
cache after) and the streamed one (preload_gb=0: DataLoader workers decode every batch) each give
`--epochs` epochs of batches on the CPU, and the batches are checked to be the same. Only the data
is timed, no model: the streamed figure is the most a training step can consume.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--format", default="jpg", choices=("jpg", "png", "webp"))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()

    from folder_cache import make_images

    tmp = Path(tempfile.mkdtemp(prefix="tui-gan-bench-"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    folder = make_images(args.folder or tmp / "images", args.images, args.side, args.format)

    import torch

    from core import foldercache
    from core.config import TrainConfig
    from core.data import StreamSource, TensorSource, load_source

    config = TrainConfig.from_preset(
        "cifar10-dcgan32",
        dataset="folder",
        data_root=str(folder),
        image_size=args.image_size,
        channels=3,
        device="cpu",
        batch_size=args.batch,
    )
    cpu = torch.device("cpu")
    preloaded = load_source(config, cpu, channels_last=True)
    assert isinstance(preloaded, TensorSource)
    first = [b.clone() for b in preloaded.batches(0)][:3]

    def rate(source: object) -> float:
        assert isinstance(source, (TensorSource, StreamSource))
        seen, started = 0, time.perf_counter()
        for epoch in range(args.epochs):
            for batch in source.batches(epoch):
                seen += len(batch)
        return seen / (time.perf_counter() - started)

    print(
        f"{args.images} {args.side}² {args.format} files → {args.image_size}², batch {args.batch}"
    )
    print(f"preloaded:                  {rate(preloaded):10,.0f} images/s")
    for workers in args.workers:
        streamed = load_source(
            config.replace(preload_gb=0, data_workers=workers), cpu, channels_last=True
        )
        assert isinstance(streamed, StreamSource)
        same = all(torch.equal(a, b) for a, b in zip(first, streamed.batches(0)))
        assert same, "streamed batches differ from preloaded ones"
        rate(streamed)  # warm: the workers start (and import torch) once a run
        label = f"streamed, {workers} workers:" if workers else "streamed, in-process:"
        print(f"{label:27} {rate(streamed):10,.0f} images/s")
    foldercache.clear()


if __name__ == "__main__":
    main()
