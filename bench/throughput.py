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
        [--precision fp32 bf16] [--d-grad] [--set cpu_threads=1]

With several precisions every Trainer and plain loop takes its turn in each round, and the
ratios printed (bf16/fp32, Trainer/plain, no-D-grad gain) are medians of per-round ratios.
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
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from core import commands as cmd
from core import events as ev
from core.config import PRECISIONS, TrainConfig, parse_overrides
from core.data import load_source
from core.step import GanStep, resolve_device
from core.trainer import Trainer


def plain_loop(
    config: TrainConfig, channels_last: bool, d_weight_grads: bool = False
) -> Callable[[], None]:
    """One `GanStep.device_step` per call (the Trainer's own step, without the Trainer) over the
    same preloaded data; `d_weight_grads` brings back the G step's gradients of D's weights."""
    device = resolve_device(config.device)
    data = load_source(config, device, channels_last)
    gan = GanStep(config, device, channels_last)
    gan.skip_d_weight_grads = not d_weight_grads
    count = itertools.count(1)

    def batches() -> Iterator[torch.Tensor]:
        epoch = 0
        while True:
            yield from data.batches(epoch)
            epoch += 1

    source = batches()

    def step() -> None:
        gan.device_step(next(source), next(count)).tolist()  # a read each step, as log_every=1

    return step


class BlockTimer:
    """Subscriber that times the Trainer's blocks (resume → the step event that ends the block) and
    pauses it after each; a block ends at the first event `block` steps on, whatever log_every."""

    def __init__(self, trainer: Trainer, block: int) -> None:
        self.trainer, self.block = trainer, block
        self.resumed_at = 0.0
        self.start_step = 0
        self.blocks: list[tuple[int, float]] = []  # (steps, seconds)
        self.paused = threading.Event()
        trainer.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.StateChanged) and event.state == ev.RUNNING:
            self.resumed_at, self.start_step = time.perf_counter(), self.trainer.step
        elif isinstance(event, ev.StepMetrics) and event.step - self.start_step >= self.block:
            self.blocks.append(
                (event.step - self.start_step, time.perf_counter() - self.resumed_at)
            )
            self.start_step = 1 << 62  # one pause a block
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


@dataclass
class Contender:
    """One thing timed in blocks: a Trainer (`timer`) or a plain loop (`step`), in images/s."""

    name: str
    config: TrainConfig
    step: Callable[[], None] | None = None
    timer: BlockTimer | None = None
    rates: list[float] = field(default_factory=list)


def measure(
    contenders: list[Contender], block: int, blocks: int, plain_thread: bool, tmp: Path
) -> None:
    """Run every contender's blocks in turn, `blocks` + 1 rounds; fill in their images/s per block,
    the warm-up round excluded."""
    # One long-lived worker thread, like the Trainer's, when asked: separates what a thread
    # costs or saves (allocator arenas, OpenMP teams) from what the Trainer itself costs.
    worker = ThreadPoolExecutor(1) if plain_thread else None
    for i, c in enumerate(contenders):
        if c.step is None:
            # Never ends by itself: with log_every=auto a block may run past `block` steps until a reading.
            trainer = Trainer(
                c.config.replace(max_steps=None, epochs=1_000_000, run_dir=str(tmp / f"run{i}"))
            )
            trainer.serve_control = False
            c.timer = BlockTimer(trainer, block)

    def plain_block(step: Callable[[], None]) -> float:
        started = time.perf_counter()
        for _ in range(block):
            step()
        return time.perf_counter() - started

    for round_ in range(blocks + 1):
        for c in contenders:
            if c.timer is not None:
                c.timer.run_block()
                steps, seconds = c.timer.blocks[-1]
            else:
                assert c.step is not None
                step = c.step
                seconds = worker.submit(plain_block, step).result() if worker else plain_block(step)
                steps = block
            if round_:
                c.rates.append(steps * c.config.batch_size / seconds)
    for c in contenders:
        if c.timer is not None:
            c.timer.trainer.send(cmd.Stop())
            c.timer.trainer.send(cmd.Resume())
            c.timer.trainer.join()


def ratio(a: Contender, b: Contender) -> float:
    """Median over rounds of a's images/s over b's (same round: the same load on the box)."""
    return statistics.median(x / y for x, y in zip(a.rates, b.rates))


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
        "--precision",
        nargs="+",
        default=["fp32"],
        choices=PRECISIONS,
        help="time the Trainer and the plain loop in each (the first is the baseline)",
    )
    parser.add_argument(
        "--d-grad",
        action="store_true",
        help="also time the plain loop computing D's weight gradients in the G step",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--plain-thread", action="store_true", help="run the plain loop in a thread too"
    )
    parser.add_argument(
        "--no-channels-last", action="store_true", help="plain loop in contiguous tensors"
    )
    args = parser.parse_args()

    base = TrainConfig.from_preset(
        args.preset, batch_size=args.batch, device=args.device, **parse_overrides(args.overrides)
    )
    if base.cpu_threads and resolve_device(base.device).type == "cpu":
        torch.set_num_threads(base.cpu_threads)  # the plain loop runs on this thread count too
    channels_last = base.arch != "mlp" and not args.no_channels_last
    print(
        f"{args.preset}, batch {args.batch}, {args.blocks} blocks of {args.block} steps each, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, log_every={base.log_every}, "
        f"plain loop channels_last={channels_last} in a thread={args.plain_thread}",
        flush=True,
    )
    contenders: list[Contender] = []
    for precision in args.precision:
        config = base.replace(precision=precision)
        contenders.append(Contender(f"trainer {precision}", config))
        contenders.append(
            Contender(f"plain {precision}", config, plain_loop(config, channels_last))
        )
    if args.d_grad:
        config = base.replace(precision=args.precision[0])
        contenders.append(
            Contender(
                f"plain {args.precision[0]} with D weight grads",
                config,
                plain_loop(config, channels_last, d_weight_grads=True),
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        measure(contenders, args.block, args.blocks, args.plain_thread, Path(tmp))
    for c in contenders:
        print(
            f"  {c.name:<34} {statistics.median(c.rates):7.1f} img/s (median; blocks "
            + " ".join(f"{r:.0f}" for r in c.rates)
            + ")"
        )
    named = {c.name: c for c in contenders}
    first = args.precision[0]
    for precision in args.precision:
        print(
            f"trainer/plain {precision}: {ratio(named[f'trainer {precision}'], named[f'plain {precision}']):.3f}"
        )
    for precision in args.precision[1:]:
        print(
            f"{precision}/{first} trainer: {ratio(named[f'trainer {precision}'], named[f'trainer {first}']):.3f}   "
            f"plain: {ratio(named[f'plain {precision}'], named[f'plain {first}']):.3f}"
        )
    if args.d_grad:
        slow = named[f"plain {first} with D weight grads"]
        print(
            f"no D weight grads in the G step: {ratio(named[f'plain {first}'], slow):.3f}x the plain loop with them"
        )


if __name__ == "__main__":
    main()
