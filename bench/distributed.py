"""Steps/s and images/s of the same run in 1 process and in N processes under torchrun.

Each configuration is a real `tui-gan train --headless` run (`--nproc-per-node N` for the
distributed one: DDP over gloo on the CPU, nccl on GPUs) with the same per-rank batch, so N
processes train N times the images a step. Rates come from the step events' timestamps in
events.jsonl, after a warm-up, so start-up (imports, rendezvous, data loading) is not counted.
On the CPU each process gets one thread (OMP_NUM_THREADS=1), so the comparison is of processes,
not of thread pools; on a box with fewer free cores than processes, N processes only add overhead.

    python bench/distributed.py [--nproc 2] [--steps 60] [--warmup 10] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = [
    "width=16",
    "batch_size=32",
    "subset=4096",
    "sample_every=0",
    "checkpoint_every=0",
    "n_samples=4",
]


def measure(nproc: int, args: argparse.Namespace, folder: Path) -> tuple[float, float]:
    """(steps/s, images/s) of one headless run in `nproc` processes."""
    run_dir = folder / f"run-{nproc}"
    argv = [
        sys.executable,
        "-m",
        "tui_gan",
        "train",
        "--headless",
        "--preset",
        args.preset,
        "--device",
        args.device,
        "--max-steps",
        str(args.steps),
        "--run-dir",
        str(run_dir),
    ]
    if nproc > 1:
        argv += ["--nproc-per-node", str(nproc)]
    for pair in [*DEFAULTS, *args.overrides]:
        argv += ["--set", pair]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    batch = next(e["config"]["batch_size"] for e in events if e["kind"] == "run_started")
    steps = [e for e in events if e["kind"] == "step" and e["step"] > args.warmup]
    rate = (steps[-1]["step"] - steps[0]["step"]) / (steps[-1]["time"] - steps[0]["time"])
    return rate, rate * batch * nproc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes of the distributed run")
    parser.add_argument("--preset", default="mnist-dcgan")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-gan-bench-") as tmp:
        print(
            f"{args.preset} on {args.device}, {', '.join([*DEFAULTS, *args.overrides])}, "
            f"{args.steps} steps ({args.warmup} warm-up), batch per process"
        )
        for nproc in (1, args.nproc):
            steps, images = measure(nproc, args, Path(tmp))
            print(
                f"  {nproc} process{'es' if nproc > 1 else '  '}: {steps:7.1f} steps/s {images:9.0f} images/s"
            )


if __name__ == "__main__":
    main()
