"""The `sample`, `export` and `export-weights` subcommands: thin wrappers over `core.export`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_gan.cli.args import add_plugin_arguments, named_plugins

# core.export (and torch) load inside the commands, so `tui-gan --help` stays fast.


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="checkpoint file, or a run directory (its newest)"
    )
    p.add_argument("-n", type=int, default=64, metavar="N", help="number of samples (default 64)")
    p.add_argument(
        "--seed", type=int, metavar="S", help="noise seed, for a picture you can make again"
    )
    p.add_argument("-o", "--out", metavar="FILE", help="output PNG (default RUN_DIR/exports/)")
    p.add_argument(
        "--device", default="auto", metavar="DEV", help="auto, cpu, cuda or cuda:N (default auto)"
    )
    add_plugin_arguments(p)
    add_noise_arguments(p)
    add_best_argument(p)


def add_best_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--best",
        action="store_true",
        help="the run's best checkpoint (keep_best) instead of its newest; give the run directory",
    )


def chosen_checkpoint(args: argparse.Namespace) -> Path:
    """The checkpoint a command works on: the run's best with --best, else the file or newest."""
    from core.best import best_checkpoint
    from core.checkpoints import resolve_checkpoint

    return best_checkpoint(args.checkpoint) if args.best else resolve_checkpoint(args.checkpoint)


def cmd_sample(args: argparse.Namespace) -> int:
    from core.export import check_truncation, sample_from_checkpoint

    named = named_plugins(args)
    if args.interpolate is not None or args.gif or args.steps is not None or args.fps is not None:
        return cmd_interpolate(args, named)
    check_truncation(args.truncation)  # before a run directory's checkpoints are searched
    print(
        sample_from_checkpoint(
            chosen_checkpoint(args),
            n=args.n,
            seed=args.seed,
            out=args.out,
            device=args.device,
            truncation=args.truncation,
            named=named,
        )
    )
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    p.add_argument("--gif", metavar="FILE", help="write the GIF of the run's sample grids here")
    p.add_argument("--grid", metavar="FILE", help="write the latest sample grid (PNG) here")
    p.add_argument(
        "--fps", type=float, default=4.0, metavar="N", help="GIF frames per second (default 4)"
    )
    p.add_argument(
        "--every", type=int, default=1, metavar="K", help="use every K-th grid (the last always)"
    )
    p.epilog = "Without --gif and --grid both are written into RUN_DIR/exports/."


def cmd_export(args: argparse.Namespace) -> int:
    from core.export import export_gif, export_grid

    both = args.gif is None and args.grid is None
    if both or args.gif is not None:
        print(export_gif(args.run_dir, args.gif, fps=args.fps, every=args.every))
    if both or args.grid is not None:
        print(export_grid(args.run_dir, args.grid))
    return 0


def add_export_weights_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="checkpoint file, or a run directory (its newest)"
    )
    p.add_argument(
        "--out", metavar="DIR", help="output folder (default RUN_DIR/exports/weights-step_N/)"
    )
    add_plugin_arguments(p)
    add_best_argument(p)


def cmd_export_weights(args: argparse.Namespace) -> int:
    from core.export import export_weights

    named = named_plugins(args)
    for path in export_weights(chosen_checkpoint(args), args.out, named):
        print(path)
    return 0


def add_noise_arguments(p: argparse.ArgumentParser) -> None:
    """`sample`'s choice of noise: truncated, or walks between random points (issue 19)."""
    p.add_argument(
        "--truncation",
        type=float,
        metavar="PSI",
        help="draw again every noise component beyond ±PSI (the truncation trick): "
        "less variety, cleaner samples; e.g. 0.5",
    )
    p.add_argument(
        "--interpolate",
        type=int,
        metavar="K",
        help="K rows, each a spherical interpolation between two random noise vectors",
    )
    p.add_argument(
        "--steps",
        type=int,
        metavar="S",
        help="with --interpolate: points along each path, ends included (default 8; 24 with --gif)",
    )
    p.add_argument(
        "--gif",
        action="store_true",
        help="with --interpolate: a GIF whose frames go along the paths and back",
    )
    p.add_argument(
        "--fps", type=float, metavar="N", help="with --gif: frames per second (default 12)"
    )


def cmd_interpolate(args: argparse.Namespace, named: dict[str, Any]) -> int:
    from core.errors import UsageError

    if args.interpolate is None:
        raise UsageError("--gif, --steps and --fps go with --interpolate K")
    from core.export import DEFAULT_PATH_FPS, check_interpolation, interpolate_from_checkpoint

    fps = DEFAULT_PATH_FPS if args.fps is None else args.fps
    # mistakes first, before a run directory's checkpoints are searched
    check_interpolation(args.interpolate, args.steps, args.seed, args.truncation, args.gif, fps)
    print(
        interpolate_from_checkpoint(
            chosen_checkpoint(args),
            args.interpolate,
            steps=args.steps,
            seed=args.seed,
            truncation=args.truncation,
            gif=args.gif,
            fps=fps,
            out=args.out,
            device=args.device,
            named=named,
        )
    )
    return 0
