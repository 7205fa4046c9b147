"""Sample quality a preset reaches on this machine: trains it for several seeds and scores the result.

    python bench/quality.py ring8-mlp --seeds 0 1 2 3 4
    python bench/quality.py mnist-dcgan --seeds 0 --set epochs=10

Each seed runs the real Trainer (headless, in this process) from scratch in a temporary run
directory, then evaluates its final generator (the moving average when g_ema is on) with the
metrics of `tui-gan eval`; the table shows the values per seed, the wall-clock minutes, and
whether issue 7's target is met.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import events as ev
from core.config import TrainConfig, parse_overrides
from core.evaluate import Evaluator
from core.trainer import Trainer


def target_met(values: dict[str, float], reference: dict[str, float]) -> bool:
    """Issue 7's targets: every mode, ≥ 98 % (ring) / 95 % (grid) high quality, reverse KL ≤ 0.05;
    for digits every class and FID (digits) within 3× the real held-out reference."""
    if "modes" in values:
        least = 98.0 if values["n_modes"] == 8 else 95.0
        return (
            values["modes"] == values["n_modes"]
            and values["high_quality"] >= least
            and values["reverse_kl"] <= 0.05
        )
    if "fid_digits" in values:
        return values["classes"] == 10 and values["fid_digits"] <= 3 * reference["fid_digits"]
    return False


def run_seed(preset: str, seed: int, overrides: dict, n: int) -> tuple[dict, dict, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig.from_preset(
            preset,
            **{
                **overrides,
                "seed": seed,
                "run_dir": tmp,
                "checkpoint_every": 0,
                "sample_every": 0,
                "eval_every": 0,
            },
        )
        trainer = Trainer(config)
        trainer.serve_control = False
        started = time.monotonic()
        trainer.start()
        trainer.join()
        minutes = (time.monotonic() - started) / 60
        if trainer.state != ev.FINISHED:
            raise SystemExit(f"seed {seed}: run ended {trainer.state}: {trainer.error}")
        result = Evaluator(trainer.config).evaluate(trainer.sampler, n)
    return result.values, result.reference, minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-n", type=int, default=2500, help="generated samples scored per seed")
    args = parser.parse_args()
    overrides = {"device": "cpu", **parse_overrides(args.overrides)}
    met = 0
    for seed in args.seeds:
        values, reference, minutes = run_seed(args.preset, seed, overrides, args.n)
        ok = target_met(values, reference)
        met += ok
        shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items() if k != "n_modes")
        print(
            f"{args.preset} seed {seed}: {shown}  ({minutes:.1f} min)  target {'met' if ok else 'missed'}",
            flush=True,
        )
    print(
        "reference (real data): "
        + "  ".join(f"{k} {v:.4g}" for k, v in reference.items() if k != "n_modes")
    )
    print(f"target met in {met} of {len(args.seeds)} seeds")


if __name__ == "__main__":
    main()
