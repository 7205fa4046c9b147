"""Run under torchrun by tests/tui_gan/cli/test_distributed.py: the real Trainer, each rank's events and weights on disk.

    python -m torch.distributed.run --nproc-per-node 2 --module tests.distributed_worker OUT_DIR [tui-gan train args]

Every rank writes OUT_DIR/rank<R>.jsonl (the events its trainer emitted, flushed as they come, so a
test can follow every rank, not only rank 0's run directory) and, at the end, OUT_DIR/rank<R>.pt
(its generator, discriminator and optimizer states).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from core import events as ev
from tui_gan.cli.args import build_trainer
from tui_gan.cli.headless import run_headless
from tui_gan.cli.main import make_parser


def main() -> int:
    out = Path(sys.argv[1])
    args = make_parser().parse_args(["train", "--headless", *sys.argv[2:]])
    trainer = build_trainer(args)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"rank{trainer.rank}.jsonl", "w") as log:
        trainer.subscribe(lambda e: (log.write(json.dumps(ev.to_json(e)) + "\n"), log.flush()))
        code = run_headless(trainer)
    if trainer.built:
        torch.save(
            {
                name: getattr(trainer.gan, name).state_dict()
                for name in ("g", "d", "opt_g", "opt_d")
            },
            out / f"rank{trainer.rank}.pt",
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
