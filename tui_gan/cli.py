"""The `tui-gan` command line: train (TUI or headless), presets, and the tools around runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from core.errors import UserError
from tui_gan import eval_cli, export_cli, launch, runs_cli


class CliError(UserError):
    """A command-line mistake; printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line (exit 2) instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None, help="preset name (see `tui-gan presets`); default mnist-dcgan")
    p.add_argument("--config", metavar="FILE", help="TOML config file")
    p.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override a config field (repeatable)")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/<preset>-<time>)")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps in total")
    p.add_argument("--epochs", type=int, metavar="N", help="train N epochs in total")
    p.add_argument("--device", metavar="D", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument("--resume", metavar="PATH", help="continue from a checkpoint file or a run directory")
    p.add_argument("--headless", action="store_true", help="train without the TUI (progress on stdout)")
    p.add_argument("--detach", action="store_true",
                   help="train in a background process that outlives the terminal (log in RUN_DIR/train.log)")
    launch.add_launch_arguments(p)


def build_config(args: argparse.Namespace):  # -> TrainConfig (kept lazy: torch imports are slow)
    """The run's config from --preset/--config, then --set, then the dedicated flags."""
    from core.config import TrainConfig, parse_overrides
    from core.presets import DEFAULT_PRESET

    overrides = parse_overrides(args.overrides)
    for flag in ("run_dir", "max_steps", "epochs", "device", "seed"):
        value = getattr(args, flag)
        if value is not None:
            overrides[flag] = value
    if args.config and args.preset:
        base = TrainConfig.from_toml(args.config).replace(preset=args.preset)
        return base.replace(**overrides)
    if args.config:
        return TrainConfig.from_toml(args.config).replace(**overrides)
    return TrainConfig.from_preset(args.preset or DEFAULT_PRESET, **overrides)


def build_trainer(args: argparse.Namespace):  # -> Trainer
    """A trainer for a new run, or for `--resume` continuing an earlier one."""
    from core.checkpoints import resolve_checkpoint
    from core.config import parse_overrides
    from core.trainer import Trainer

    if not args.resume:
        return Trainer(build_config(args))
    if args.preset or args.config:
        raise CliError("--resume continues a run with its own config; drop --preset/--config (use --set)")
    overrides = parse_overrides(args.overrides)
    for flag in ("max_steps", "epochs", "device"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.run_dir:
        overrides["run_dir"] = args.run_dir
    checkpoint = resolve_checkpoint(args.resume, on_skip=lambda note: print(f"tui-gan: {note}", file=sys.stderr))
    return Trainer.from_checkpoint(checkpoint, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    if args.nproc_per_node:
        launch.check_launch_arguments(args)
    if args.detach:
        return runs_cli.start_detached(args)
    if args.nproc_per_node and args.headless:
        return launch.launch(args)
    if args.nproc_per_node:  # the ranks train in the background; the TUI attaches to rank 0
        args.run_dir = str(runs_cli.resolve_run_dir(args).resolve())
        code = runs_cli.start_detached(args)
        from tui_gan.watch import run_watch

        return code or run_watch(args.run_dir)
    trainer = build_trainer(args)
    if args.headless or trainer.world_size > 1:  # under torchrun: `tui-gan watch` attaches to rank 0
        from tui_gan.headless import run_headless

        return run_headless(trainer)
    from tui_gan.tui import run_tui

    return run_tui(trainer)


def cmd_presets(args: argparse.Namespace) -> int:
    from core.presets import DEFAULT_PRESET, PRESETS

    width = max(len(n) for n in PRESETS)
    for name, preset in PRESETS.items():
        mark = "*" if name == DEFAULT_PRESET else " "
        print(f"{mark} {name:<{width}}  {preset.description}")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "train": ("train a GAN (the TUI unless --headless)", add_train_arguments, cmd_train),
    "presets": ("list the presets", lambda p: None, cmd_presets),
    "sample": ("a grid of new samples from a checkpoint", export_cli.add_sample_arguments, export_cli.cmd_sample),
    "export": ("a GIF of a run's sample grids and its latest grid", export_cli.add_export_arguments,
               export_cli.cmd_export),
    "export-weights": ("plain generator/discriminator state dicts and config.json",
                       export_cli.add_export_weights_arguments, export_cli.cmd_export_weights),
    "eval": ("sample-quality metrics of a checkpoint with the real-data reference",
             eval_cli.add_eval_arguments, eval_cli.cmd_eval),
    "watch": ("open the TUI on a running training (quitting detaches)", runs_cli.add_watch_arguments,
              runs_cli.cmd_watch),
    "ctl": ("pause, resume, stop, save, sample or set hyperparameters of a running training",
            runs_cli.add_ctl_arguments, runs_cli.cmd_ctl),
    "runs": ("a table of the runs under a folder: state, progress, attachable", runs_cli.add_runs_arguments,
             runs_cli.cmd_runs),
}


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tui-gan", description="Train GANs from the terminal.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "train")  # `tui-gan` alone (or with train flags) trains in the TUI
    args = make_parser().parse_args(argv)
    _, _, run = COMMANDS[args.command]
    try:
        return run(args)
    except UserError as exc:
        print(f"tui-gan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tui-gan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
