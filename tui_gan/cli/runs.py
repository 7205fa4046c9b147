"""`tui-gan runs [ROOT]`: a table of the runs under a folder: state, progress, attachable.

In a terminal wide enough it is a Rich table; in a pipe or a narrow terminal, aligned plain columns
that never cut a name or a state; with `--json`, one JSON object per run, one a line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.runs import RunSummary

HEADINGS = ("name", "preset", "state", "step", "epoch", "loss D", "loss G", "started", "attachable")
NUMERIC = frozenset({"step", "epoch", "loss D", "loss G"})
COLOURS = {
    "running": "green",
    "paused": "yellow",
    "crashed": "bold red",
    "failed": "red",
    "finished": "cyan",
    "unreadable": "bold red",
}


def add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "root",
        nargs="?",
        default="runs",
        metavar="ROOT",
        help="folder of run directories (default runs/)",
    )
    p.add_argument(
        "--json", action="store_true", help="one JSON object per run, one a line (for scripts)"
    )


def _ago(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "?"


def cells(run: RunSummary) -> list[str]:
    """The row of one run, in the order of HEADINGS."""
    return [
        run.name,
        run.preset,
        run.state,
        "" if run.step is None else str(run.step),
        "" if run.epoch is None else str(run.epoch),
        "" if run.loss_d is None else f"{run.loss_d:.4f}",
        "" if run.loss_g is None else f"{run.loss_g:.4f}",
        _ago(run.started),
        "yes" if run.attachable else "no",
    ]


def aligned(runs: list[RunSummary]) -> list[list[str]]:
    """The heading and a row per run, each cell padded to its column's widest; none cut."""
    rows = [list(HEADINGS)] + [cells(r) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADINGS))]
    return [
        [
            c.rjust(w) if h in NUMERIC else c.ljust(w)
            for c, w, h in zip(row, widths, HEADINGS, strict=True)
        ]
        for row in rows
    ]


def plain_lines(runs: list[RunSummary]) -> list[str]:
    """The table as aligned columns two spaces apart; every cell whole, however long."""
    return ["  ".join(row).rstrip() for row in aligned(runs)]


def as_json(run: RunSummary) -> dict[str, Any]:
    """One run as a JSON-ready object (its path as a string)."""
    return {**dataclasses.asdict(run), "path": str(run.path)}


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    from core.runs import list_runs

    root = Path(args.root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder (runs are created under runs/ by default)")
    runs = list_runs(root)
    if args.json:
        for run in runs:
            print(json.dumps(as_json(run)))
        return 0
    if not runs:
        print(f"no runs under {root}")
        return 0
    table = Table(title=f"runs under {root}")
    for column in HEADINGS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    for run in runs:
        row = cells(run)
        style = COLOURS.get(run.state)
        row[2] = f"[{style}]{run.state}[/]" if style else run.state
        table.add_row(*row)
    console = Console()
    # measured unbounded: Measurement.get clamps to the width it is given
    natural = Measurement.get(console, console.options.update_width(1 << 16), table).maximum
    wide_enough = natural <= console.width
    if console.is_terminal and wide_enough:
        console.print(table)
    else:
        # a pipe or a narrow terminal: whole names and states, lines as long as they need
        for i, row in enumerate(aligned(runs)):
            style = COLOURS.get(runs[i - 1].state, "") if i and console.is_terminal else ""
            text = Text("  ".join(row[:2]) + "  ")
            text.append(row[2], style)
            text.append("  " + "  ".join(row[3:]))
            text.rstrip()
            console.print(text, soft_wrap=True, highlight=False)
    for run in runs:
        if run.problem:
            console.print(f"{run.name}: unreadable: {run.problem}", markup=False, highlight=False)
        elif run.note:
            console.print(f"{run.name}: {run.note}", markup=False, highlight=False)
    return 0
