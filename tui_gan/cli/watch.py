"""`tui-gan watch RUN_DIR`: the app attached to a run in another process; quitting detaches."""

from __future__ import annotations

import argparse


def add_watch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of a running training")


def cmd_watch(args: argparse.Namespace) -> int:
    from tui_gan.app.watch import run_watch

    return run_watch(args.run_dir)
