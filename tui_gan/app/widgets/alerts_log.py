"""Alerts and log lines of the run (NaN losses, refused commands, checkpoints, errors)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from tui_gan.view.runview import LogLine

LEVEL_STYLES = {"info": "dim", "warning": "bold yellow", "error": "bold red"}


class AlertsLog(RichLog):
    """Appends LogLines; keeps the last few hundred."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=500, wrap=True, markup=False, highlight=False)

    def add_lines(self, lines: list[LogLine]) -> None:
        for line in lines:
            mark = {"warning": "! ", "error": "✖ "}.get(line.level, "· ")
            self.write(
                Text.assemble(
                    (f"{line.step:>7} ", "dim"),
                    (mark + line.text, LEVEL_STYLES.get(line.level, "")),
                )
            )
