"""`tui-gan train`: in the app, headless, in the background, or in several processes through torchrun."""

from __future__ import annotations

import argparse

from tui_gan.cli.args import build_trainer, check_launch_arguments, resolve_run_dir


def cmd_train(args: argparse.Namespace) -> int:
    # The runners load torch (and the app Textual): imported once a training starts, so the
    # subcommands that do not train stay fast and torch-free.
    if args.nproc_per_node is not None:  # 0 is a mistake to report, not "no launcher"
        check_launch_arguments(args)
    if args.detach:
        from tui_gan.cli.detach import start_detached

        return start_detached(args)
    if args.nproc_per_node and args.headless:
        from tui_gan.cli.launch import launch

        return launch(args)
    if args.nproc_per_node:  # the ranks train in the background; the app attaches to rank 0
        from tui_gan.app.watch import run_watch
        from tui_gan.cli.detach import start_detached

        args.run_dir = str(resolve_run_dir(args).resolve())
        return start_detached(args) or run_watch(args.run_dir)
    trainer = build_trainer(args)
    # under torchrun: `tui-gan watch` attaches to rank 0
    if args.headless or trainer.world_size > 1:
        from tui_gan.cli.headless import run_headless

        return run_headless(trainer)
    from tui_gan.cli.tui import run_tui

    return run_tui(trainer)
