"""`tui-gan runs [ROOT]`: a table of the runs under a folder: state, progress, attachable."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from core.errors import UserError


def add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "root",
        nargs="?",
        default="runs",
        metavar="ROOT",
        help="folder of run directories (default runs/)",
    )


def _ago(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "?"


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from core.runs import list_runs

    root = Path(args.root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder (runs are created under runs/ by default)")
    runs = list_runs(root)
    if not runs:
        print(f"no runs under {root}")
        return 0
    colours = {
        "running": "green",
        "paused": "yellow",
        "crashed": "bold red",
        "failed": "red",
        "finished": "cyan",
        "unreadable": "bold red",
    }
    table = Table(title=f"runs under {root}")
    for column in (
        "name",
        "preset",
        "state",
        "step",
        "epoch",
        "loss D",
        "loss G",
        "started",
        "attachable",
    ):
        table.add_column(
            column, justify="right" if column in ("step", "epoch", "loss D", "loss G") else "left"
        )
    for run in runs:
        style = colours.get(run.state)
        table.add_row(
            run.name,
            run.preset,
            f"[{style}]{run.state}[/]" if style else run.state,
            "" if run.step is None else str(run.step),
            "" if run.epoch is None else str(run.epoch),
            "" if run.loss_d is None else f"{run.loss_d:.4f}",
            "" if run.loss_g is None else f"{run.loss_g:.4f}",
            _ago(run.started),
            "yes" if run.attachable else "no",
        )
    console = Console()
    console.print(table)
    for run in runs:
        if run.problem:
            console.print(f"{run.name}: unreadable: {run.problem}", markup=False, highlight=False)
        elif run.note:
            console.print(f"{run.name}: {run.note}", markup=False, highlight=False)
    return 0
