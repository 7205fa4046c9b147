"""The sample history: step through every saved grid of the run, and compare one marked grid with
the current one side by side."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_gan.app.widgets.sample_image import SampleImage
from tui_gan.view.samplehistory import Grid, Scrubber, describe, list_grids

# New grids arrive while a run trains: list the folder again this often (a scandir: cheap).
RELIST_INTERVAL_S = 2.0


class SampleHistoryScreen(Screen[None]):
    """Every grid in RUN_DIR/samples: ←/→ step, home/end jump, space marks one to show beside."""

    DEFAULT_CSS = """
    SampleHistoryScreen #hist-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    SampleHistoryScreen #hist-body { height: 1fr; }
    SampleHistoryScreen .hist-pane { width: 1fr; }
    SampleHistoryScreen #hist-marked-pane { display: none; border-left: vkey $panel-lighten-2; }
    SampleHistoryScreen.marking #hist-marked-pane { display: block; }
    SampleHistoryScreen SampleImage { height: 1fr; }
    SampleHistoryScreen .hist-caption { height: 1; text-align: center; color: $text-muted; }
    SampleHistoryScreen #hist-bar { height: 1; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,g", "app.pop_screen", "Back"),
        Binding("left", "move(-1)", "Older"),
        Binding("right", "move(1)", "Newer"),
        Binding("home", "first", "First"),
        Binding("end", "last", "Last"),
        Binding("pageup", "move(-10)", "-10", show=False),
        Binding("pagedown", "move(10)", "+10", show=False),
        Binding("space,m", "mark", "Mark"),
        Binding("q", "app.request_quit", "Quit"),
    ]

    class Listed(Message):
        """The folder was listed (in a thread worker)."""

        def __init__(self, grids: list[Grid]) -> None:
            super().__init__()
            self.grids = grids

    def __init__(
        self,
        run_dir: str | Path,
        tile: int | None = None,
        epochs: dict[int, int] | None = None,
        steps_per_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.tile = (
            tile  # pixels of one image in the grid: crops to readable tiles, as the dashboard
        )
        self.epochs = epochs if epochs is not None else {}  # the run's own record, kept up to date
        self.steps_per_epoch = steps_per_epoch
        self.scrubber = Scrubber()
        self.listed = False
        self._shown: tuple[str | None, str | None] | None = None  # paths drawn (None: nothing yet)

    def compose(self) -> ComposeResult:
        yield Static(f"Sample history of {self.run_dir.name}", id="hist-title")
        with Horizontal(id="hist-body"):
            with Vertical(id="hist-current-pane", classes="hist-pane"):
                yield SampleImage(id="hist-current")
                yield Static(id="hist-current-caption", classes="hist-caption")
            with Vertical(id="hist-marked-pane", classes="hist-pane"):
                yield SampleImage(id="hist-marked")
                yield Static(id="hist-marked-caption", classes="hist-caption")
        yield Static(id="hist-bar")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#hist-current", SampleImage).show(None, message="listing the samples…")
        self.relist()
        self.set_interval(RELIST_INTERVAL_S, self.relist)

    def on_resize(self) -> None:
        self.show_bar()

    # -- listing -----------------------------------------------------------------------------------

    def relist(self) -> None:
        # the run's epochs dict grows on this (the UI) thread: the worker gets a copy
        self._list(dict(self.epochs))

    @work(thread=True, exclusive=True, group="list-grids")
    def _list(self, epochs: dict[int, int]) -> None:
        self.post_message(
            self.Listed(list_grids(self.run_dir / "samples", epochs, self.steps_per_epoch))
        )

    def on_sample_history_screen_listed(self, message: Listed) -> None:
        first = not self.listed
        self.listed = True
        if self.scrubber.update(message.grids) or first:
            self.show()

    # -- drawing -----------------------------------------------------------------------------------

    def show(self) -> None:
        """Draw the current and the marked grid, their captions and the scrubber bar."""
        s = self.scrubber
        current, marked = s.current, s.marked
        count = len(s.grids)
        paths = (current.path if current else None, marked.path if marked else None)
        if paths != self._shown:
            self._shown = paths
            empty = f"no sample grids yet in {self.run_dir.name}/samples"
            self.query_one("#hist-current", SampleImage).show(
                current.path if current else None, tile=self.tile, message=empty
            )
            self.query_one("#hist-marked", SampleImage).show(
                marked.path if marked else None, tile=self.tile
            )
        self.set_class(marked is not None, "marking")
        label = "current · " if marked is not None else ""
        self.query_one("#hist-current-caption", Static).update(
            label + describe(current, s.index, count), layout=False
        )
        if marked is not None:
            self.query_one("#hist-marked-caption", Static).update(
                "marked · " + describe(marked, s.grids.index(marked), count), layout=False
            )
        self.show_bar()

    def show_bar(self) -> None:
        if not self.is_mounted:
            return
        bar = self.query_one("#hist-bar", Static)
        hint = "  ←/→ step · home/end · space mark"
        width = max(bar.size.width - 2, 10)
        room = width - len(hint) if width >= 40 + len(hint) else width
        text = self.scrubber.bar(room)
        bar.update(text + (hint if room < width else ""), layout=False)

    # -- actions -----------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.scrubber.move(delta)
        self.show()

    def action_first(self) -> None:
        self.scrubber.first()
        self.show()

    def action_last(self) -> None:
        self.scrubber.last()
        self.show()

    def action_mark(self) -> None:
        if self.scrubber.current is None:
            self.notify("no sample grids yet", severity="warning")
            return
        self.scrubber.toggle_mark()
        self.show()
