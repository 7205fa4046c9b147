"""The GPU figures of issue 17 in one go, on a CUDA machine: a table of Trainer and plain-loop images/s
in fp32, bf16 and fp16, the cost of log_every=1 against auto, and the app-vs-headless ratio.

    python bench/gpu_check.py [--preset mnist-dcgan] [--batch 64] [--device cuda]

Everything is interleaved as in bench/throughput.py (blocks of steps in turn, medians of per-round
ratios) and takes a few minutes. On a machine without a usable CUDA device it says so in one line.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from core.config import TrainConfig
from core.step import cuda_unusable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--block", type=int, default=50, help="steps per block")
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument(
        "--app-steps", type=int, default=1500, help="steps of each app/headless run"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        reason = cuda_unusable()
        print(
            f"gpu_check: no usable CUDA device here{f' ({reason})' if reason else ''}; run it on a GPU machine"
        )
        return 0

    from throughput import Contender, measure, plain_loop, ratio  # bench/throughput.py
    from tui_throughput import headless, images_per_second, in_app

    started = time.monotonic()
    base = TrainConfig.from_preset(args.preset, batch_size=args.batch, device=args.device)
    channels_last = base.arch != "mlp"
    precisions = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    print(
        f"{args.preset}, batch {args.batch}, {torch.cuda.get_device_name(args.device)}, torch {torch.__version__}, "
        f"blocks of {args.block} steps",
        flush=True,
    )
    contenders: list[Contender] = []
    for precision in precisions:
        config = base.replace(precision=precision)
        contenders.append(Contender(f"trainer {precision}", config))
        contenders.append(
            Contender(f"plain {precision}", config, plain_loop(config, channels_last))
        )
    contenders.append(
        Contender("trainer fp32 log_every=1", base.replace(precision="fp32", log_every="1"))
    )
    with tempfile.TemporaryDirectory() as tmp:
        measure(contenders, args.block, args.blocks, False, Path(tmp))
    named = {c.name: c for c in contenders}
    print(
        f"\n{'precision':<10}{'trainer img/s':>15}{'plain img/s':>13}{'trainer/plain':>15}{'trainer vs fp32':>17}"
    )
    for precision in precisions:
        t, p = named[f"trainer {precision}"], named[f"plain {precision}"]
        print(
            f"{precision:<10}{statistics.median(t.rates):>15.0f}{statistics.median(p.rates):>13.0f}"
            f"{ratio(t, p):>15.3f}{ratio(t, named['trainer fp32']):>17.3f}"
        )
    print(
        f"log_every=1 against auto (fp32 trainer): {ratio(named['trainer fp32 log_every=1'], named['trainer fp32']):.3f}"
    )

    speeds: dict[str, list[float]] = {"headless": [], "app": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(2):
            for mode in ("headless", "app"):
                run_dir = Path(tmp) / f"{mode}-{r}"
                config = base.replace(max_steps=args.app_steps, run_dir=str(run_dir))
                if mode == "headless":
                    headless(config)
                else:
                    asyncio.run(in_app(config, (120, 36)))
                speeds[mode].append(
                    images_per_second(run_dir, args.app_steps // 10, config.batch_size)
                )
    print(
        f"app/headless: {statistics.median(speeds['app']) / statistics.median(speeds['headless']):.3f}"
    )
    print(f"({(time.monotonic() - started) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
