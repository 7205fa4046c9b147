"""Argument building shared by the subcommands: the parser class, train's flags, the run's config and
trainer from them, and the command line that repeats a training in other processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from core.errors import UsageError

if TYPE_CHECKING:  # torch loads with these; the commands that do not train never import it
    from core.config import TrainConfig
    from core.trainer import Trainer


class CliError(UsageError):
    """A command-line mistake: printed as one line, exit code 2 like argparse's own."""


class Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line (exit 2) instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    """A count of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset", default=None, help="preset name (see `tui-gan presets`); default mnist-dcgan"
    )
    p.add_argument("--config", metavar="FILE", help="TOML config file")
    p.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a config field (repeatable)",
    )
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/<preset>-<time>)")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps in total")
    p.add_argument("--epochs", type=int, metavar="N", help="train N epochs in total")
    p.add_argument("--device", metavar="D", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument(
        "--resume", metavar="PATH", help="continue from a checkpoint file or a run directory"
    )
    p.add_argument(
        "--best",
        action="store_true",
        help="with --resume RUN_DIR: continue from the run's best checkpoint (keep_best)",
    )
    p.add_argument(
        "--more", type=_positive, metavar="STEPS", help="with --resume: train STEPS more steps"
    )
    p.add_argument(
        "--more-epochs", type=_positive, metavar="N", help="with --resume: train N more epochs"
    )
    p.add_argument(
        "--headless", action="store_true", help="train without the TUI (progress on stdout)"
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="train in a background process that outlives the terminal (log in RUN_DIR/train.log)",
    )
    add_launch_arguments(p)


def add_launch_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("several GPUs or machines (torchrun)")
    g.add_argument(
        "--nproc-per-node",
        type=int,
        metavar="N",
        help="train in N processes on this machine (one per GPU), launched by torchrun",
    )
    g.add_argument(
        "--nnodes", type=int, default=1, metavar="M", help="machines taking part (default 1)"
    )
    g.add_argument(
        "--node-rank",
        type=int,
        default=0,
        metavar="R",
        help="this machine's place, 0..M-1; machine 0 holds rank 0, which writes the run directory",
    )
    g.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="where the machines meet: HOST is machine 0, PORT a free port there",
    )


def check_launch_arguments(args: argparse.Namespace) -> None:
    if args.nproc_per_node < 1:
        raise CliError("--nproc-per-node must be at least 1")
    if args.nnodes < 1 or not 0 <= args.node_rank < args.nnodes:
        raise CliError(f"--node-rank must be in 0..{args.nnodes - 1} (--nnodes {args.nnodes})")
    if args.nnodes > 1 and not args.rdzv_endpoint:
        raise CliError(
            "--nnodes > 1 needs --rdzv-endpoint HOST:PORT (machine 0 and a free port), the same on every machine"
        )


def launcher_flags(args: argparse.Namespace) -> list[str]:
    """The flags that make `tui-gan train` launch through torchrun (for a background launcher)."""
    flags = [
        "--nproc-per-node",
        str(args.nproc_per_node),
        "--nnodes",
        str(args.nnodes),
        "--node-rank",
        str(args.node_rank),
    ]
    return flags + (["--rdzv-endpoint", args.rdzv_endpoint] if args.rdzv_endpoint else [])


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config from --preset/--config, then --set, then the dedicated flags."""
    from core.config import TrainConfig, parse_overrides
    from core.presets import DEFAULT_PRESET

    overrides = parse_overrides(args.overrides)
    for flag in ("run_dir", "max_steps", "epochs", "device", "seed"):
        value = getattr(args, flag)
        if value is not None:
            overrides[flag] = value
    if args.config:  # the preset, then the file's fields, then --set and the flags, each on top
        return TrainConfig.from_toml(args.config, preset=args.preset).replace(**overrides)
    return TrainConfig.from_preset(args.preset or DEFAULT_PRESET, **overrides)


def build_trainer(args: argparse.Namespace) -> Trainer:
    """A trainer for a new run, or for `--resume` continuing an earlier one."""
    from core.checkpoints import resolve_checkpoint
    from core.config import parse_overrides
    from core.plan import PlanRequest
    from core.trainer import Trainer

    more = args.more is not None or args.more_epochs is not None
    if not args.resume:
        if more:
            raise CliError("--more and --more-epochs extend a run: use them with --resume")
        if args.best:
            raise CliError("--best picks the checkpoint to resume: use it with --resume RUN_DIR")
        return Trainer(build_config(args))
    if args.preset or args.config:
        raise CliError(
            "--resume continues a run with its own config; drop --preset/--config (use --set)"
        )
    if more and (
        args.max_steps is not None or args.epochs is not None or args.more_epochs and args.more
    ):
        raise CliError("give one of --more, --more-epochs, or the totals --max-steps/--epochs")
    overrides = parse_overrides(args.overrides)
    totals = {
        k: overrides.pop(k) for k in ("max_steps", "epochs") if k in overrides
    }  # --set is a total too
    if args.device is not None:
        overrides["device"] = args.device
    if args.run_dir:
        overrides["run_dir"] = args.run_dir
    plan = PlanRequest(
        max_steps=args.max_steps if args.max_steps is not None else totals.get("max_steps"),
        epochs=args.epochs if args.epochs is not None else totals.get("epochs"),
        more_steps=args.more,
        more_epochs=args.more_epochs,
    )
    if args.best:
        from core.best import best_checkpoint

        checkpoint = best_checkpoint(args.resume)
    else:
        checkpoint = resolve_checkpoint(
            args.resume, on_skip=lambda note: print(f"tui-gan: {note}", file=sys.stderr)
        )
    return Trainer.from_checkpoint(checkpoint, plan, **overrides)


def add_plugin_arguments(p: argparse.ArgumentParser) -> None:
    """--set/--config for the commands that load a checkpoint: they name its plug-ins, since a
    checkpoint never makes tui-gan import code on its own."""
    p.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="arch=package.module:function (or dataset=…): the plug-in the checkpoint was "
        "trained with, which tui-gan imports only when you name it",
    )
    p.add_argument(
        "--config", metavar="FILE", help="a config file whose arch/dataset name the plug-ins"
    )


def named_plugins(args: argparse.Namespace) -> dict[str, Any]:
    """The arch and dataset the user named with --config and --set (the later wins)."""
    from core.config import TrainConfig, parse_overrides
    from core.plugins import PLUGIN_FIELDS

    named: dict[str, Any] = {}
    if args.config:
        config = TrainConfig.from_toml(args.config)
        named = {field: getattr(config, field) for field in PLUGIN_FIELDS}
    overrides = parse_overrides(args.overrides)
    other = sorted(set(overrides) - set(PLUGIN_FIELDS))
    if other:
        raise CliError(
            f"--set {other[0]}: only arch and dataset can be set here (they name the "
            "checkpoint's plug-ins); its other settings are the checkpoint's own"
        )
    return {**named, **overrides}


def resolve_run_dir(args: argparse.Namespace) -> Path:
    """The run directory a training in other processes will use, decided here so it can be printed
    (and so the processes of a distributed run all get the same one)."""
    if args.run_dir:
        return Path(args.run_dir)
    if not args.resume:
        return Path(build_config(args).default_run_dir())  # checks the config without loading torch
    return Path(build_trainer(args).run_dir.path)


def train_argv(args: argparse.Namespace, run_dir: Path, launcher: bool = True) -> list[str]:
    """`tui-gan train --headless` with `args` in `run_dir`; through torchrun when `args` ask for
    several processes, unless `launcher` is False (the command each of those processes runs)."""
    argv = [sys.executable, "-m", "tui_gan", "train", "--headless", "--run-dir", str(run_dir)]
    if launcher and getattr(args, "nproc_per_node", None):
        argv += launcher_flags(args)
    for flag, value in (
        ("--preset", args.preset),
        ("--config", args.config),
        ("--max-steps", args.max_steps),
        ("--epochs", args.epochs),
        ("--device", args.device),
        ("--seed", args.seed),
        ("--resume", args.resume),
        ("--more", args.more),
        ("--more-epochs", args.more_epochs),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for pair in args.overrides:
        argv += ["--set", pair]
    if getattr(args, "best", False):
        argv.append("--best")
    return argv
