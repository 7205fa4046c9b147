"""The Textual app: polls the session, routes keys to screens, and owns stop/quit/resume."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from core import commands as cmd
from core import events as ev
from core.errors import UserError
from tui_gan.app.dialogs.export import ExportDialog
from tui_gan.app.dialogs.hyperparams import HyperparamsForm
from tui_gan.app.dialogs.pick_runs import PickRunsDialog
from tui_gan.app.dialogs.quit import SAVE_AND_QUIT, QuitDialog
from tui_gan.app.messages import DialogRequested, ResumeRequested
from tui_gan.app.screens.checkpoints import CheckpointsScreen
from tui_gan.app.screens.compare import CompareScreen
from tui_gan.app.screens.dashboard import DashboardScreen
from tui_gan.app.screens.sample_history import SampleHistoryScreen
from tui_gan.app.session import Session
from tui_gan.view.runview import RunView, format_number

POLL_INTERVAL_S = 0.1  # ~10 refreshes a second at most; the trainer never waits for the UI
STOP_TIMEOUT_S = 120.0  # a final checkpoint of a big model takes a while; after this we exit anyway

OpenSession = Callable[
    [str], Session
]  # checkpoint path -> a session continuing it, not started yet


class GanApp(App[int]):
    """Watch and steer one training run through a Session."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-gan"
    # App's own bindings: ctrl+q quits (through action_quit, the careful way); ctrl+c is left to
    # the focused widget, so it copies in a text field instead of quitting.

    def __init__(
        self,
        session: Session,
        *,
        start: Callable[[], None] | None = None,
        open_session: OpenSession | None = None,
        stop_timeout: float = STOP_TIMEOUT_S,
        named: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        # plug-ins the user named at the start: the checkpoint browser loads only those
        self.named = dict(named or {})
        self._start = start
        self.open_session = open_session
        self.stop_timeout = stop_timeout
        self.dashboard = DashboardScreen()
        self.quitting = False
        self.switching = False
        # id of the quit's stop with a checkpoint, until answered
        self._quit_stop: str | None = None
        self._quit_answer: ev.Event | None = None

    def get_default_screen(self) -> Screen[None]:
        return self.dashboard

    def on_mount(self) -> None:
        self.set_interval(POLL_INTERVAL_S, self.poll)
        if self._start is not None:
            self.call_after_refresh(
                self._start
            )  # first frame before the trainer competes for the CPU

    def poll(self) -> None:
        """Drain the session and hand the events to the dashboard in one batch."""
        if not self.is_running:  # shutting down: the screens' widgets are being removed
            return
        events = self.session.events()
        for event in events:
            if (
                isinstance(event, (ev.CommandDone, ev.CommandRefused))
                and event.id == self._quit_stop
            ):
                self._quit_answer = event
                if isinstance(event, ev.CommandRefused):  # the checkpoint could not be saved: stay
                    self.quitting = False
                    self.notify(f"not quitting: {event.reason}", severity="error", timeout=30)
        self.dashboard.ingest(events)

    @property
    def view(self) -> RunView:
        return self.dashboard.view

    # -- commands to the run ---------------------------------------------------------------------

    def _send(self, command: cmd.Command, doing: str) -> bool:
        if not self.session.alive or self.view.final:
            self.notify(
                "the run has ended; press c to resume from a checkpoint", severity="warning"
            )
            return False
        self.session.send(command)
        if doing:
            self.notify(doing, timeout=3)
        return True

    def action_toggle_pause(self) -> None:
        if self.view.state == ev.PAUSED:
            self._send(cmd.Resume(), "resuming…")
        elif self.view.state == ev.STOPPING:
            self.notify("the run is stopping", severity="warning")
        else:
            self._send(cmd.Pause(), "pausing at the next step…")

    def action_save_checkpoint(self) -> None:
        self._send(cmd.SaveCheckpoint(), "saving a checkpoint…")

    def action_sample_now(self) -> None:
        self._send(cmd.SampleNow(), "drawing samples…")

    def action_hyperparams(self) -> None:
        if self.view.final or not self.session.alive:
            self.notify(
                "the run has ended; hyperparameters can no longer change", severity="warning"
            )
            return
        if not self.view.config:
            self.notify("the run is still starting", severity="warning")
            return

        def apply(changes: dict[str, Any] | None) -> None:
            if changes and self._send(cmd.SetHyperparams(changes), ""):
                text = ", ".join(f"{k}={format_number(v)}" for k, v in changes.items())
                self.notify(f"requested {text}", timeout=3)

        self.push_screen(HyperparamsForm(self.view.config), apply)

    def action_checkpoints(self) -> None:
        self.push_screen(CheckpointsScreen(self.session.run_dir, self.named))

    def action_export(self) -> None:
        self.push_screen(ExportDialog(self.session.run_dir, self.named))

    def action_compare(self) -> None:
        """Pick runs among this run's siblings (same root), then compare them."""
        from core.runs import UNREADABLE, list_runs

        here = Path(self.session.run_dir)
        try:
            runs = [r for r in list_runs(here.parent) if r.state != UNREADABLE]
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        if not any(r.path.resolve() == here.resolve() for r in runs):
            self.notify("the run directory is not written yet", severity="warning")
            return

        def chosen(paths: list[Path] | None) -> None:
            if paths:
                title = f"compare {len(paths)} runs under {here.parent}"
                self.push_screen(CompareScreen(paths, title=title))

        self.push_screen(PickRunsDialog(runs, here), chosen)

    def action_sample_history(self) -> None:
        view = self.view
        self.push_screen(
            SampleHistoryScreen(
                self.session.run_dir, view.grid_tile, view.sample_epochs, view.steps_per_epoch
            )
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in (
            (
                "Pause / resume training",
                "p: pause or resume at the next step",
                self.action_toggle_pause,
            ),
            (
                "Hyperparameters",
                "h: change learning rates, betas, intervals",
                self.action_hyperparams,
            ),
            ("Checkpoints", "c: browse, preview, resume, delete", self.action_checkpoints),
            ("Export", "e: GIF of the samples or the latest grid", self.action_export),
            ("Compare runs", "r: this run beside its sibling runs", self.action_compare),
            (
                "Sample history",
                "g: step through every saved grid, mark one to compare",
                self.action_sample_history,
            ),
            ("Save checkpoint now", "s", self.action_save_checkpoint),
            ("Sample now", "n: draw the fixed-noise grid", self.action_sample_now),
            ("Toggle log scale", "l", self.dashboard.action_log_scale),
            ("Cycle plot window", "w: whole run / last N steps", self.dashboard.action_window),
            (
                "Next quality metric",
                "m: which sample-quality metric the small plot shows",
                self.dashboard.action_cycle_metric,
            ),
            (
                "Quit",
                "q: stop the run (optionally saving a checkpoint) and exit",
                self.action_request_quit,
            ),
        ):
            yield SystemCommand(title, help_text, action)

    # -- resume from a checkpoint --------------------------------------------------------------------

    def on_dialog_requested(self, message: DialogRequested) -> None:
        self.push_screen(message.dialog, message.answered)

    def on_resume_requested(self, message: ResumeRequested) -> None:
        self.resume_from_checkpoint(message.checkpoint)

    def resume_from_checkpoint(self, checkpoint: str) -> None:
        """Stop the current run cleanly, then continue from `checkpoint` in a new session."""
        if self.open_session is None:
            self.notify(
                "this session cannot start runs; resume with `tui-gan train --resume`",
                severity="warning",
            )
            return
        if self.switching:
            return
        self.switching = True
        self.notify(
            f"stopping the current run, then resuming from {Path(checkpoint).name}…", timeout=5
        )
        self._switch(checkpoint, self.open_session)

    @work(thread=True, exclusive=True, group="session")
    def _switch(self, checkpoint: str, open_session: OpenSession) -> None:
        old = self.session
        try:
            new = open_session(checkpoint)  # a resume that cannot start stops nothing
            if old.alive:
                old.send(
                    cmd.Stop(checkpoint=False, reason=f"resuming from {Path(checkpoint).name}")
                )
            old.close(timeout=self.stop_timeout)
            if old.alive:
                raise UserError("the current run did not stop in time; try again")
            new.start()
        except (UserError, OSError) as exc:
            self.call_from_thread(self._switch_failed, str(exc))
            return
        self.call_from_thread(self._switched, old, new)

    def _switched(self, old: Session, new: Session) -> None:
        self.dashboard.ingest(old.events())  # the old run's last events, then a clean slate
        self.session = new
        self.switching = False
        self.dashboard.reset()
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def _switch_failed(self, message: str) -> None:
        self.switching = False
        self.notify(message, title="resume failed", severity="error", timeout=10)

    # -- quitting ------------------------------------------------------------------------------------

    async def action_quit(
        self,
    ) -> None:  # ctrl+q and the command palette's Quit go the careful way too
        self.action_request_quit()

    def action_request_quit(self) -> None:
        if self.quitting:
            self.notify("not waiting for the trainer any longer")
            self.exit(self.exit_code())
            return
        if isinstance(self.screen, QuitDialog):
            return

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self.shutdown(save=choice == SAVE_AND_QUIT)

        self.push_screen(QuitDialog(running=self.session.alive and not self.view.final), chosen)

    def shutdown(self, save: bool) -> None:
        """Stop the run (with a final checkpoint when `save`), wait for it in a worker, then exit."""
        self.quitting = True
        self._quit_stop, self._quit_answer = None, None
        if self.session.alive:
            stop = cmd.Stop(checkpoint=save, reason="quit from the app")
            self._quit_stop = stop.id if save else None
            self.session.send(stop)
            self.notify("saving a checkpoint and stopping…" if save else "stopping…", timeout=30)
        self._wait_and_exit()

    @work(thread=True, exclusive=True, group="session")
    def _wait_and_exit(self) -> None:
        # A stop with a checkpoint may be refused (a full disk): the run then waits paused, and so
        # does the app, rather than closing the session, which would end the run unsaved.
        deadline = time.monotonic() + self.stop_timeout
        while (
            self._quit_stop
            and self._quit_answer is None
            and self.session.alive
            and time.monotonic() < deadline
        ):
            time.sleep(POLL_INTERVAL_S)
        if isinstance(self._quit_answer, ev.CommandRefused):
            return
        self.session.close(timeout=self.stop_timeout)
        self.call_from_thread(self._exit_after_stop)

    def _exit_after_stop(self) -> None:
        self.poll()  # show the final events (checkpoint saved…) in case the exit is slow
        self.exit(self.exit_code())

    def exit_code(self) -> int:
        return 1 if self.view.state == ev.FAILED else 0
