"""The `export-metrics` subcommand: a run's scalars as CSV and/or TensorBoard files (no torch)."""

from __future__ import annotations

import argparse

from core.errors import UsageError


def add_export_metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="one row per step event and per evaluation, a column per scalar "
        "(a folder: FOLDER/RUN-metrics.csv)",
    )
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="scalars and sample grids as a TensorBoard event file in DIR/RUN/ "
        "(needs: pip install 'tui-gan[tensorboard]')",
    )
    p.epilog = (
        "Steps that a resume trained again appear once, as retrained. "
        "`tensorboard --logdir DIR` shows every run exported into DIR; "
        "`wandb sync --sync-tensorboard DIR/RUN` uploads one to W&B."
    )


def cmd_export_metrics(args: argparse.Namespace) -> int:
    if args.csv is None and args.tensorboard is None:
        raise UsageError("say what to write: --csv FILE, --tensorboard DIR or both")
    if args.tensorboard is not None:
        from core.tensorboard import export_tensorboard, require_tensorboard

        require_tensorboard()  # before the CSV: all that was asked, or nothing
    if args.csv is not None:
        from core.scalars import write_csv

        print(write_csv(args.run_dir, args.csv)[0])
    if args.tensorboard is not None:
        print(export_tensorboard(args.run_dir, args.tensorboard)[0])
    return 0
