"""`tui-gan eval CHECKPOINT`: sample-quality metrics of a checkpoint beside the real-data reference."""

from __future__ import annotations

import argparse
import json
import math
import sys

from tui_gan.cli.args import CliError, add_plugin_arguments, named_plugins
from tui_gan.view.metricnames import LABELS, format_metric, shown_keys


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint file or run directory (its newest checkpoint)")
    p.add_argument(
        "-n", type=int, default=None, metavar="N", help="generated samples (default: eval_samples)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--inception-weights", metavar="PATH", help="local Inception v3 weights for FID/KID"
    )
    p.add_argument(
        "--device",
        default="auto",
        metavar="DEV",
        help="where the generator and the scorers run: auto, cpu, cuda or cuda:N (default auto)",
    )
    add_plugin_arguments(p)


def cmd_eval(args: argparse.Namespace) -> int:
    from core.checkpoints import resolve_checkpoint
    from core.evaluate import evaluate_checkpoint

    if args.n is not None and not 10 <= args.n <= 100_000:
        raise CliError(f"-n: {args.n} is not allowed; expected a whole number in [10, 100000]")
    named = named_plugins(args)
    path = resolve_checkpoint(args.checkpoint)

    def progress(what: str, fraction: float) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r{what}: {fraction:4.0%}", end="", file=sys.stderr, flush=True)

    result, config, step = evaluate_checkpoint(
        path, args.n, progress, args.inception_weights, args.device, named
    )
    if args.json:

        def finite(d: dict[str, float]) -> dict[str, float | None]:
            return {
                k: v if math.isfinite(v) else None for k, v in d.items()
            }  # strict JSON has no inf

        print(
            json.dumps(
                {
                    "checkpoint": str(path),
                    "step": step,
                    "dataset": config.dataset,
                    "values": finite(result.values),
                    "reference": finite(result.reference),
                    "note": result.note,
                },
                allow_nan=False,
            )
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{path} — step {step}, {config.dataset}")
    table.add_column("metric")
    table.add_column("generated", justify="right")
    table.add_column("real data", justify="right")
    for key in shown_keys(result.values):  # as the app shows them: main metric first, `8/8` modes
        ref = result.reference.get(key)
        table.add_row(
            LABELS.get(key, key),
            format_metric(key, result.values[key], result.values),
            "" if ref is None else format_metric(key, ref, result.reference),
        )
    console = Console()
    console.print(table)
    if result.note:
        console.print(result.note, markup=False)
    return 0
