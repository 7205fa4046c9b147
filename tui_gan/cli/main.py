"""`tui-gan`: the parser of every subcommand, and `main`, which runs one and gives its exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from core.errors import UsageError, UserError
from tui_gan.cli import (
    cache,
    compare,
    ctl,
    evaluate,
    export,
    export_metrics,
    presets,
    runs,
    serve,
    train,
    watch,
)
from tui_gan.cli.args import Parser, add_train_arguments

# Exit codes, the same for every subcommand.
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "train": ("train a GAN (the TUI unless --headless)", add_train_arguments, train.cmd_train),
    "presets": ("list the presets", lambda p: None, presets.cmd_presets),
    "sample": (
        "a grid of new samples from a checkpoint",
        export.add_sample_arguments,
        export.cmd_sample,
    ),
    "export": (
        "a GIF of a run's sample grids and its latest grid",
        export.add_export_arguments,
        export.cmd_export,
    ),
    "export-weights": (
        "plain generator/discriminator state dicts and config.json",
        export.add_export_weights_arguments,
        export.cmd_export_weights,
    ),
    "export-metrics": (
        "a run's losses and metrics as CSV, or as TensorBoard files with its sample grids",
        export_metrics.add_export_metrics_arguments,
        export_metrics.cmd_export_metrics,
    ),
    "eval": (
        "sample-quality metrics of a checkpoint with the real-data reference",
        evaluate.add_eval_arguments,
        evaluate.cmd_eval,
    ),
    "watch": (
        "open the TUI on a running training (quitting detaches)",
        watch.add_watch_arguments,
        watch.cmd_watch,
    ),
    "ctl": (
        "pause, resume, stop, save, sample or set hyperparameters of a running training",
        ctl.add_ctl_arguments,
        ctl.run_ctl,
    ),
    "runs": (
        "a table of the runs under a folder: state, progress, attachable",
        runs.add_runs_arguments,
        runs.cmd_runs,
    ),
    "compare": (
        "runs side by side: curves on shared axes, metrics and the config fields that differ",
        compare.add_compare_arguments,
        compare.cmd_compare,
    ),
    "serve": (
        "the app in a web browser, behind a random token (needs the serve extra)",
        serve.add_serve_arguments,
        serve.cmd_serve,
    ),
    "cache": (
        "list or clear the decoded image folders cached for fast starts",
        cache.add_cache_arguments,
        cache.cmd_cache,
    ),
}


def package_version() -> str:
    try:
        return version("tui-gan")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tui-gan", description="Train GANs from the terminal.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand: 0 success, 1 a run or command that failed, 2 a usage error, 130 Ctrl-C."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "train")  # `tui-gan` alone (or with train flags) trains in the TUI
    args = make_parser().parse_args(argv)  # a usage mistake exits here with USAGE
    _, _, run = COMMANDS[args.command]
    try:
        return run(args)
    except UsageError as exc:  # CliError, a plan with nothing to train
        print(f"tui-gan: error: {exc}", file=sys.stderr)
        return USAGE
    except UserError as exc:
        print(f"tui-gan: error: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print("tui-gan: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
