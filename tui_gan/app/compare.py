"""`tui-gan compare`: the app on the compare screen alone; quitting leaves every run as it was."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.screen import Screen

from tui_gan.app.screens.compare import CompareScreen


class CompareApp(App[int]):
    """Shows CompareScreen over `run_dirs`; it steers no run, so it quits without asking."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-gan compare"

    def __init__(self, run_dirs: list[Path], title: str = "") -> None:
        super().__init__()
        self.run_dirs = run_dirs
        self.heading = title

    def get_default_screen(self) -> Screen[None]:
        return CompareScreen(self.run_dirs, title=self.heading)


def run_compare(run_dirs: list[Path], title: str = "") -> int:
    """Open the compare screen on `run_dirs` until the user quits."""
    app = CompareApp(run_dirs, title)
    app.run()
    return int(app.return_value or 0)
