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

    def __init__(
        self, run_dirs: list[Path], title: str = "", roots: list[Path] | None = None
    ) -> None:
        super().__init__()
        self.run_dirs = run_dirs
        self.heading = title
        self.roots = roots

    def get_default_screen(self) -> Screen[None]:
        return CompareScreen(self.run_dirs, title=self.heading, roots=self.roots)


def run_compare(run_dirs: list[Path], title: str = "", roots: list[Path] | None = None) -> int:
    """Open the compare screen on `run_dirs` (and runs started later under `roots`) until quit."""
    app = CompareApp(run_dirs, title, roots)
    app.run()
    return int(app.return_value or 0)
