"""The checkpoint browser: the run's checkpoints, a sample preview of each, resume/export/delete."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.errors import CheckpointError, UserError
from tui_gan.app.dialogs.confirm import ConfirmDialog
from tui_gan.app.messages import DialogRequested, ExportDone, ResumeRequested
from tui_gan.app.widgets.sample_image import SampleImage
from tui_gan.view.metricnames import SHORT, format_metric, main_key, shown_keys
from tui_gan.view.runview import format_size

PREVIEW_SEED = 0  # the same picture every time a checkpoint is selected
COLUMNS = ("step", "epoch", "time", "loss D", "loss G", "size", "made")
TABLE_WIDTH = 63  # what the columns need; the preview takes the rest


def _loss(value: float | None) -> str:
    return "--" if value is None else f"{value:.3f}"


class CheckpointsScreen(Screen[None]):
    """Lists checkpoints of `run_dir`; the heavy parts (listing, sampling) run in thread workers."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,c", "app.pop_screen", "Back"),
        Binding("r,enter", "resume", "Resume from it"),
        Binding("x", "export_samples", "Export samples"),
        Binding("d,delete", "delete", "Delete"),
        Binding("f5", "refresh", "Refresh"),
        Binding("q", "app.request_quit", "Quit"),
    ]

    class Listed(Message):
        """The listing worker finished; `best`: the checkpoint keep_best keeps (a record or None)."""

        def __init__(self, infos: list[Any], error: str = "", best: Any = None) -> None:
            super().__init__()
            self.infos, self.error, self.best = infos, error, best

    class Previewed(Message):
        """A preview grid was drawn from a checkpoint (or could not be)."""

        def __init__(
            self, checkpoint: str, image: str | None, error: str = "", unreadable: bool = False
        ) -> None:
            super().__init__()
            self.checkpoint, self.image, self.error = checkpoint, image, error
            self.unreadable = unreadable  # the file itself failed its checks on load

    def __init__(self, run_dir: str | Path, named: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.named = dict(
            named or {}
        )  # plug-ins the user named: a checkpoint's others stay unloaded
        self.infos: list[Any] = []
        self.previews: dict[str, str] = {}
        # Preview PNGs live only as long as the screen: removed when it closes (on_unmount).
        self.preview_dir = Path(tempfile.mkdtemp(prefix="tui-gan-previews-"))
        self.closed = False
        # the metric given a column of its own (the main one the checkpoints have)
        self.metric: str | None = None
        self.best: Any = None  # keep_best's record: which checkpoint holds the best evaluation

    def compose(self) -> ComposeResult:
        yield Static(f"Checkpoints of {self.run_dir.name}", id="ckpt-title")
        with Horizontal(id="ckpt-body"):
            table: DataTable[str | Text] = DataTable(
                id="ckpt-table", cursor_type="row", zebra_stripes=True
            )
            yield table
            with Vertical(id="ckpt-side"):
                yield SampleImage(id="ckpt-preview")
                yield Static("", id="ckpt-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.loading = True
        self.list_checkpoints()

    def on_unmount(self) -> None:
        self.closed = True  # set before the removal: a preview being drawn now removes it again
        shutil.rmtree(self.preview_dir, ignore_errors=True)

    def on_resize(self) -> None:
        self.query_one("#ckpt-side").styles.width = max(17, self.size.width - TABLE_WIDTH)

    # -- listing -----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="list")
    def list_checkpoints(self) -> None:
        try:
            from core.best import read_best
            from core.checkpoints import list_checkpoints

            infos = list(reversed(list_checkpoints(self.run_dir)))
            self.post_message(self.Listed(infos, best=read_best(self.run_dir)))
        except (OSError, UserError) as exc:
            self.post_message(self.Listed([], str(exc)))

    def on_checkpoints_screen_listed(self, message: Listed) -> None:
        table = self.query_one(DataTable)
        table.loading = False
        self.infos, self.best = message.infos, message.best
        self.metric = main_key(sorted({k for info in self.infos for k in info.metrics}))
        if self.best is not None and any(self.best.metric in i.metrics for i in self.infos):
            self.metric = self.best.metric  # the column shows what "best" was judged by
        table.clear(columns=True)
        names = list(COLUMNS)
        # one metric takes the epoch's place (the detail pane has both, and all metrics)
        if self.metric:
            names[1:5] = [*names[2:5], SHORT.get(self.metric, self.metric)]
        table.add_columns(*names)
        self.on_resize()
        for info in self.infos:
            when = time.strftime("%m-%d %H:%M", time.localtime(info.time))
            if info.readable:
                row = (
                    f"{info.step:,}",
                    str(info.epoch),
                    when,
                    _loss(info.loss_d),
                    _loss(info.loss_g),
                    format_size(info.size),
                    self.made(info),
                )
            else:
                row = (
                    f"{info.step:,}" if info.step >= 0 else "?",
                    "?",
                    when,
                    "--",
                    "--",
                    format_size(info.size),
                    Text("unreadable", style="bold red"),
                )
            if self.metric:
                value = info.metrics.get(self.metric) if info.readable else None
                row = (row[0], *row[2:5], format_metric(self.metric, value, info.metrics), *row[5:])
            table.add_row(*row, key=info.path)
        if message.error:
            self.query_one("#ckpt-detail", Static).update(f"[red]{message.error}[/]")
        elif not self.infos:
            self.query_one("#ckpt-detail", Static).update(
                "No checkpoints yet. Press Esc, then s on the dashboard to save one now."
            )
            self.query_one(SampleImage).show(None, message="no checkpoint selected")
        else:
            table.move_cursor(row=0)
            self.select(0)

    def is_best(self, info: Any) -> bool:
        return self.best is not None and Path(info.path).name == self.best.checkpoint

    def made(self, info: Any) -> str | Text:
        """Why a checkpoint was saved; the best one (keep_best) marked with a star."""
        if not self.is_best(info):
            return str(info.reason)
        return Text("★ best" if info.reason == "best" else f"★ {info.reason}", style="bold yellow")

    def action_refresh(self) -> None:
        self.query_one(DataTable).loading = True
        self.list_checkpoints()

    # -- selection and preview ---------------------------------------------------------------------

    def selected(self) -> Any | None:
        table = self.query_one(DataTable)
        if (
            not self.infos
            or table.cursor_row is None
            or not 0 <= table.cursor_row < len(self.infos)
        ):
            return None
        return self.infos[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.select(event.cursor_row)

    def select(self, row: int) -> None:
        if not 0 <= row < len(self.infos):
            return
        info = self.infos[row]
        detail = self.query_one("#ckpt-detail", Static)
        name = Path(info.path).name
        if not info.readable:
            detail.update(f"[b]{name}[/]\n[red]{info.problem}[/]\nd: delete")
            self.query_one(SampleImage).show(None, message="unreadable checkpoint")
            return
        metrics = " · ".join(
            f"{SHORT.get(k, k)} {format_metric(k, info.metrics[k], info.metrics)}"
            for k in shown_keys(info.metrics)
        )
        if metrics:
            metrics = "\n" + metrics
        if self.is_best(info):
            best = self.best
            value = format_metric(best.metric, best.value, info.metrics)
            metrics += (
                f"\n[b yellow]★ best {SHORT.get(best.metric, best.metric)} {value}[/] (keep_best)"
            )
        detail.update(
            f"[b]{name}[/]  step {info.step:,} · epoch {info.epoch}{metrics}\n"
            "r resume · x export samples · d delete"
        )
        if info.path in self.previews:
            self.query_one(SampleImage).show(self.previews[info.path])
        else:
            self.query_one(SampleImage).show(None, message="drawing samples…")
            self.preview(info.path)

    @work(thread=True, exclusive=True, group="preview")
    def preview(self, checkpoint: str) -> None:
        try:
            from core.export import sample_from_checkpoint

            out = self.preview_dir / f"{Path(checkpoint).stem}.png"
            path = sample_from_checkpoint(checkpoint, seed=PREVIEW_SEED, out=out, named=self.named)
            # the screen closed while this was drawn: nobody removes the file after us
            if self.closed:
                shutil.rmtree(self.preview_dir, ignore_errors=True)
                return
            self.post_message(self.Previewed(checkpoint, str(path)))
        except CheckpointError as exc:
            self.post_message(self.Previewed(checkpoint, None, str(exc), unreadable=True))
        except (OSError, UserError) as exc:
            self.post_message(self.Previewed(checkpoint, None, str(exc)))

    def on_checkpoints_screen_previewed(self, message: Previewed) -> None:
        row = next(
            (i for i, info in enumerate(self.infos) if info.path == message.checkpoint), None
        )
        if message.unreadable and row is not None:  # its sidecar looked fine, its contents do not
            self.infos[row] = dataclasses.replace(
                self.infos[row], readable=False, problem=message.error
            )
            table = self.query_one(DataTable)
            table.update_cell_at(
                Coordinate(row, len(table.columns) - 1), Text("unreadable", style="bold red")
            )
            if self.selected() is self.infos[row]:
                self.select(row)
            return
        if message.image:
            self.previews[message.checkpoint] = message.image
        current = self.selected()
        if current is None or current.path != message.checkpoint:
            return
        if message.image:
            self.query_one(SampleImage).show(message.image)
        else:
            self.query_one(SampleImage).show(None, message="no preview")
            self.query_one("#ckpt-detail", Static).update(f"[red]{message.error}[/]")

    # -- actions -------------------------------------------------------------------------------------

    def action_resume(self) -> None:
        info = self.selected()
        if info is None or not info.readable:
            self.notify("select a readable checkpoint first", severity="warning")
            return
        self.post_message(ResumeRequested(info.path))

    def action_export_samples(self) -> None:
        info = self.selected()
        if info is None or not info.readable:
            self.notify("select a readable checkpoint first", severity="warning")
            return
        self.notify(f"drawing samples from {Path(info.path).name}…")
        self.export_samples(info.path)

    @work(thread=True, group="export")
    def export_samples(self, checkpoint: str) -> None:
        try:
            from core.export import sample_from_checkpoint

            path = sample_from_checkpoint(checkpoint, seed=PREVIEW_SEED, named=self.named)
            self.post_message(ExportDone(str(path)))
        except (OSError, UserError) as exc:
            self.post_message(ExportDone(None, str(exc)))

    def on_export_done(self, message: ExportDone) -> None:
        if message.path:
            self.notify(f"samples written to {message.path}", title="exported", timeout=10)
        else:
            self.notify(message.error, title="export failed", severity="error", timeout=10)

    def action_delete(self) -> None:
        info = self.selected()
        if info is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                from core.checkpoints import delete_checkpoint

                try:
                    delete_checkpoint(info.path)
                except OSError as exc:
                    self.notify(f"could not delete: {exc}", severity="error")
                    return
                self.previews.pop(info.path, None)
                self.notify(f"deleted {Path(info.path).name}")
                self.action_refresh()

        self.post_message(
            DialogRequested(
                ConfirmDialog(f"Delete {Path(info.path).name}? This cannot be undone.", "Delete"),
                confirmed,
            )
        )
