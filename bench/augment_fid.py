"""FID (digits) of `mnist-dcgan` trained on a small subset, with and without augmentation.

    OMP_NUM_THREADS=1 python bench/augment_fid.py --steps 2000 --seeds 0 1

Each (augment, seed) pair trains the real Trainer (headless, in this process, on the CPU) from
scratch for the same number of steps on the same `subset` of the embedded digits, then scores its
final generator (the moving average, as the preset has g_ema on) with `tui-gan eval`'s digit
metrics. The table gives FID (digits) per seed, their mean, the classes covered and the minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import run_seed  # one run trained and scored, as the quality bench does it

from core.config import AUGMENTS, parse_overrides


def run(
    mode: str, seed: int, args: argparse.Namespace, overrides: dict
) -> tuple[dict, dict, float]:
    """Train one run and score it: (values, real reference, minutes of training)."""
    settings = {"device": "cpu", **overrides, "augment": mode, "subset": args.subset}
    return run_seed("mnist-dcgan", seed, {**settings, "max_steps": args.steps}, args.n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--subset", type=int, default=1000, help="digits trained on")
    parser.add_argument("--modes", nargs="+", choices=AUGMENTS, default=["none", "diffaugment"])
    parser.add_argument("-n", type=int, default=2500, help="generated samples scored per run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    rows = []
    reference: dict = {}
    for mode in args.modes:
        fids, classes, minutes = [], [], []
        for seed in args.seeds:
            values, reference, took = run(mode, seed, args, overrides)
            print(
                f"augment={mode} seed {seed}: FID (digits) {values['fid_digits']:.2f}, "
                f"{values['classes']:.0f} classes ({took:.1f} min)",
                flush=True,
            )
            fids.append(values["fid_digits"])
            classes.append(values["classes"])
            minutes.append(took)
        rows.append((mode, fids, classes, minutes))

    seeds = "  ".join(f"{'seed ' + str(s):>8}" for s in args.seeds)
    print(
        f"\nmnist-dcgan, subset={args.subset}, {args.steps} steps, "
        f"FID (digits) of {args.n} samples (lower is better)"
    )
    print(f"{'augment':<12}  {seeds}  {'mean':>8}  classes  minutes")
    for mode, fids, classes, minutes in rows:
        cells = "  ".join(f"{f:>8.2f}" for f in fids)
        shown = "/".join(f"{c:.0f}" for c in classes)
        print(
            f"{mode:<12}  {cells}  {sum(fids) / len(fids):>8.2f}  {shown:>7}  "
            f"{sum(minutes) / len(minutes):>7.1f}"
        )
    print(f"real held-out digits: FID (digits) {reference.get('fid_digits', float('nan')):.2f}")


if __name__ == "__main__":
    main()
