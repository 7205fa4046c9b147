"""Images/s of the Trainer against a plain PyTorch loop of the same model, batch and data.

Both run in this process, in alternating rounds so that load from other work on a shared box
hits both alike; warm-up steps are excluded from every round. The plain loop is the usual
GAN loop (the pytorch/examples DCGAN shape) with one `.item()`-style host sync per step, and
channels-last convolutions when the Trainer uses them (they are faster on the CPU too).

    python bench/throughput.py [--preset mnist-dcgan] [--batch 64] [--steps 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from core import events as ev  # noqa: E402
from core.config import TrainConfig  # noqa: E402
from core.data import load_source  # noqa: E402
from core.models import build_models  # noqa: E402
from core.trainer import Trainer, resolve_device  # noqa: E402


def plain_loop(config: TrainConfig, warmup: int, steps: int, channels_last: bool) -> float:
    """Images/s of a hand-written GAN loop (BCE, Adam) over the same preloaded data."""
    device = resolve_device(config.device)
    data = load_source(config, device, channels_last)
    g, d = build_models(config)
    fmt = torch.channels_last if channels_last else torch.preserve_format
    g.to(device, memory_format=fmt)
    d.to(device, memory_format=fmt)
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    n = config.batch_size
    ones = torch.ones(n, device=device)
    zeros = torch.zeros(n, device=device)
    done, started = 0, 0.0
    epoch = 0
    while done < warmup + steps:
        for real in data.batches(epoch):
            if done == warmup:
                started = time.perf_counter()
            z = torch.randn(n, config.latent_dim, device=device)
            fake = g(z)
            opt_d.zero_grad(set_to_none=True)
            real_logits = d(real)
            loss_d = F.binary_cross_entropy_with_logits(real_logits, ones) + \
                F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            gen_logits = d(fake)
            loss_g = F.binary_cross_entropy_with_logits(gen_logits, ones)
            loss_g.backward()
            opt_g.step()
            torch.stack([loss_d.detach(), loss_g.detach()]).tolist()  # what a loop logs each step
            done += 1
            if done == warmup + steps:
                break
        epoch += 1
    return steps * n / (time.perf_counter() - started)


def trainer_run(config: TrainConfig, warmup: int, steps: int) -> float:
    """Images/s of the Trainer in its background thread, timed by a subscriber from step events."""
    seen: dict[int, float] = {}

    def subscriber(event: ev.Event) -> None:
        if isinstance(event, ev.StepMetrics) and event.step in (warmup, warmup + steps):
            seen[event.step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        # The preset's own sample/checkpoint intervals; the final grid and checkpoint come after
        # the last timed step event, so only what a user's run does per step is measured.
        trainer = Trainer(config.replace(max_steps=warmup + steps, run_dir=str(Path(tmp) / "run")))
        trainer.subscribe(subscriber)
        trainer.start()
        trainer.join()
        if trainer.state != ev.FINISHED:
            raise SystemExit(f"trainer ended {trainer.state}: {trainer.error}")
    return steps * config.batch_size / (seen[warmup + steps] - seen[warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before each round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating plain/trainer rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-channels-last", action="store_true", help="plain loop without channels_last")
    args = parser.parse_args()

    config = TrainConfig.from_preset(args.preset, batch_size=args.batch, device=args.device)
    channels_last = config.arch != "mlp" and not args.no_channels_last
    print(f"{args.preset}, batch {args.batch}, {args.steps} timed steps x {args.rounds} rounds, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"plain loop channels_last={channels_last}", flush=True)
    plain, trainer = [], []
    for r in range(args.rounds):
        # Swap the order every round so neither side always runs first on a warm or cold box.
        order = [("plain", plain), ("trainer", trainer)]
        for name, results in order if r % 2 == 0 else order[::-1]:
            if name == "plain":
                results.append(plain_loop(config, args.warmup, args.steps, channels_last))
            else:
                results.append(trainer_run(config, args.warmup, args.steps))
            print(f"  round {r + 1} {name:8s} {results[-1]:7.1f} img/s", flush=True)
    p, t = statistics.median(plain), statistics.median(trainer)
    print(f"plain loop {p:.1f} img/s, trainer {t:.1f} img/s, ratio {t / p:.3f} (medians)")


if __name__ == "__main__":
    main()
