"""The top line: run name, preset, data set, device and a coloured state badge."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui_gan.view.runview import RunView

STATES = ("starting", "running", "paused", "stopping", "stopped", "finished", "failed")


class RunHeader(Horizontal):
    """Title on the left, state badge on the right."""

    DEFAULT_CSS = """
    RunHeader { height: 1; dock: top; background: $panel; }
    RunHeader #title { width: 1fr; padding: 0 1; text-overflow: ellipsis; text-wrap: nowrap; }
    RunHeader #state { width: auto; padding: 0 1; text-style: bold; }
    RunHeader .starting { background: $primary-darken-1; color: $text; }
    RunHeader .running { background: $success; color: $text; }
    RunHeader .paused, RunHeader .stopping { background: $warning; color: black; }
    RunHeader .stopped { background: $secondary; color: $text; }
    RunHeader .finished { background: $accent; color: $text; }
    RunHeader .failed { background: $error; color: $text; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="state", classes="starting")

    def update_from(self, view: RunView) -> None:
        c = view.config
        parts = [view.name]
        if c:
            parts += [c.get("preset", "?"), c.get("dataset", "?")]
        if view.device:
            parts.append(view.device.upper() if view.device == "cpu" else view.device)
        self.query_one("#title", Static).update("tui-gan ▸ " + " · ".join(parts))
        badge = self.query_one("#state", Static)
        badge.update(view.state.upper())
        badge.set_classes(view.state if view.state in STATES else "starting")
