"""`tui-gan compare RUN_DIR… | ROOT`: runs side by side, their curves on shared axes and a table."""

from __future__ import annotations

import argparse
import sys

from core.errors import UserError


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        default=["runs"],
        metavar="RUN_DIR",
        help="run directories, or folders of runs to compare every run under (default runs/)",
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from tui_gan.view.compare import resolve_runs

    resolved = resolve_runs(args.paths)
    for skipped in resolved.skipped:
        print(f"tui-gan: skipping {skipped}", file=sys.stderr)
    if not resolved.runs:
        raise UserError("no readable run to compare")
    where = f" under {args.paths[0]}" if len(args.paths) == 1 and len(resolved.runs) > 1 else ""
    from tui_gan.app.compare import run_compare

    title = f"compare {len(resolved.runs)} runs{where}"
    return run_compare(resolved.runs, title, roots=resolved.roots)
