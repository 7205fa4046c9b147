"""Images/s of the Trainer against a plain PyTorch loop of the same model, batch and data.

Both run in this process, interleaved in short blocks so that load from other work on a shared
box hits both alike: the Trainer trains a block of steps in its background thread (a subscriber
attached, events.jsonl written, the preset's sample and checkpoint intervals), pauses itself
through the `Pause` command, the plain loop trains a block on the main thread, the Trainer is
resumed, and so on. The first block of each is warm-up and not counted; the result is the
median over blocks. The plain loop calls the Trainer's own step (`core.step.GanStep`) on the
same data, so the ratio is what the Trainer adds around it: commands, events, the log, samples
and checkpoints.

    python bench/throughput.py [--preset mnist-dcgan] [--batch 64] [--block 10] [--blocks 8]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.data import load_source
from core.step import GanStep, resolve_device
from core.trainer import Trainer


def plain_loop(config: TrainConfig, channels_last: bool) -> Callable[[], None]:
    """One `GanStep.train_step` per call (the Trainer's own step, without the Trainer) over the
    same preloaded data."""
    device = resolve_device(config.device)
    data = load_source(config, device, channels_last)
    gan = GanStep(config, device, channels_last)
    count = itertools.count(1)

    def batches() -> Iterator[torch.Tensor]:
        epoch = 0
        while True:
            yield from data.batches(epoch)
            epoch += 1

    source = batches()

    def step() -> None:
        gan.train_step(next(source), next(count))

    return step


class BlockTimer:
    """Subscriber that times the Trainer's blocks (resume → last step) and pauses it after each."""

    def __init__(self, trainer: Trainer, block: int) -> None:
        self.trainer, self.block = trainer, block
        self.resumed_at = 0.0
        self.seconds: list[float] = []
        self.paused = threading.Event()
        trainer.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.StateChanged) and event.state == ev.RUNNING:
            self.resumed_at = time.perf_counter()
        elif isinstance(event, ev.StepMetrics) and event.step % self.block == 0:
            self.seconds.append(time.perf_counter() - self.resumed_at)
            self.trainer.send(cmd.Pause())  # handled before the next step
        elif isinstance(event, ev.StateChanged) and event.state == ev.PAUSED:
            self.paused.set()

    def run_block(self) -> None:
        self.paused.clear()
        if self.trainer.state == ev.STARTING:
            self.trainer.start()
        else:
            self.trainer.send(cmd.Resume())
        if not self.paused.wait(600):
            raise SystemExit(f"trainer did not pause: {self.trainer.state} {self.trainer.error}")


def measure(
    config: TrainConfig, block: int, blocks: int, channels_last: bool, plain_thread: bool
) -> tuple[list[float], list[float]]:
    """Images/s per block of the plain loop and of the Trainer, interleaved; warm-up excluded."""
    step = plain_loop(config, channels_last)
    plain: list[float] = []
    # One long-lived worker thread, like the Trainer's, when asked: separates what a thread
    # costs or saves (allocator arenas, OpenMP teams) from what the Trainer itself costs.
    worker = ThreadPoolExecutor(1) if plain_thread else None

    def plain_block() -> float:
        started = time.perf_counter()
        for _ in range(block):
            step()
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            config.replace(max_steps=block * (blocks + 2), run_dir=str(Path(tmp) / "run"))
        )
        timer = BlockTimer(trainer, block)
        for _ in range(blocks + 1):
            timer.run_block()
            plain.append(worker.submit(plain_block).result() if worker else plain_block())
        trainer.send(cmd.Stop())
        trainer.send(cmd.Resume())
        trainer.join()
    images = block * config.batch_size
    return [images / s for s in plain[1:]], [images / s for s in timer.seconds[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--block", type=int, default=10, help="steps per block")
    parser.add_argument(
        "--blocks", type=int, default=8, help="timed blocks of each (plus one warm-up)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--plain-thread", action="store_true", help="run the plain loop in a thread too"
    )
    parser.add_argument(
        "--no-channels-last", action="store_true", help="plain loop in contiguous tensors"
    )
    args = parser.parse_args()

    config = TrainConfig.from_preset(args.preset, batch_size=args.batch, device=args.device)
    channels_last = config.arch != "mlp" and not args.no_channels_last
    print(
        f"{args.preset}, batch {args.batch}, {args.blocks} blocks of {args.block} steps each, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"plain loop channels_last={channels_last} in a thread={args.plain_thread}",
        flush=True,
    )
    plain, trainer = measure(config, args.block, args.blocks, channels_last, args.plain_thread)
    for i, (p, t) in enumerate(zip(plain, trainer), 1):
        print(f"  block {i}: plain {p:7.1f} img/s   trainer {t:7.1f} img/s   ratio {t / p:.3f}")
    p, t = statistics.median(plain), statistics.median(trainer)
    ratios = statistics.median(t_ / p_ for p_, t_ in zip(plain, trainer))
    print(
        f"plain loop {p:.1f} img/s, trainer {t:.1f} img/s, ratio {t / p:.3f} "
        f"(medians; median of per-block ratios {ratios:.3f})"
    )


if __name__ == "__main__":
    main()
