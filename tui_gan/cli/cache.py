"""`tui-gan cache [list|clear]`: the decoded image folders cached under $XDG_CACHE_HOME/tui-gan."""

from __future__ import annotations

import argparse
import time

from core import foldercache
from tui_gan.view.runview import format_size


def add_cache_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "clear"),
        default="list",
        help="list the cached folders (the default) or remove them all",
    )


def cmd_cache(args: argparse.Namespace) -> int:
    where = foldercache.folders_dir()
    if args.action == "clear":
        count, freed = foldercache.clear()
        print(f"removed {count} cached folder(s) from {where}, {format_size(freed)} freed")
        return 0
    found = foldercache.entries()
    if not found:
        print(f"no cached image folders in {where}")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"decoded image folders cached in {where}")
    for column in ("folder", "images", "shape", "size", "date"):
        table.add_column(column, justify="right" if column in ("images", "size") else "left")
    total = 0
    for path, entry in found:
        size = path.stat().st_size
        total += size
        if isinstance(entry, str):  # unreadable: listed so that `clear` is seen to be needed
            table.add_row(f"{path.name} (damaged: {entry})", "", "", format_size(size), "")
            continue
        h = entry.header
        shape = f"{h.get('channels')}×{h.get('image_size')}²" + (
            "" if entry.has_pixels else " (checked only: streamed)"
        )
        skipped = f" ({len(entry.bad)} unreadable)" if entry.bad else ""
        table.add_row(
            entry.folder,
            f"{entry.images:,}{skipped}",
            shape,
            format_size(size),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(float(h.get("created", 0)))),
        )
    console = Console()
    console.print(table, markup=False, highlight=False)
    console.print(f"{len(found)} entries, {format_size(total)}; `tui-gan cache clear` removes them")
    return 0
