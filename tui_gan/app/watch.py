"""`tui-gan watch RUN_DIR`: the full app attached to a run in another process; quitting detaches."""

from __future__ import annotations

from pathlib import Path

from tui_gan.app.app import GanApp
from tui_gan.app.dialogs.quit import DETACH, STOP, DetachDialog
from tui_gan.app.remote import RemoteSession


class WatchApp(GanApp):
    """GanApp on a RemoteSession, whose quit asks detach-or-stop instead of save-or-quit."""

    CSS_PATH = "app.tcss"

    def action_request_quit(self) -> None:
        if self.quitting:
            super().action_request_quit()
            return
        if isinstance(self.screen, DetachDialog):
            return

        def chosen(choice: str | None) -> None:
            if choice == DETACH:
                self.detach()
            elif choice == STOP:
                self.shutdown(save=True)  # sends Stop(checkpoint=True) and waits for the run to end

        self.push_screen(DetachDialog(running=self.session.alive and not self.view.final), chosen)

    def detach(self) -> None:
        """Leave the run training and exit."""
        self.quitting = True
        self.session.close(timeout=0)
        self.exit(0)


def run_watch(run_dir: str | Path) -> int:
    """Attach the app to the run in `run_dir` (ControlError when it cannot be reached)."""
    session = RemoteSession(run_dir)
    app = WatchApp(session)
    try:
        app.run()
    finally:
        session.close(timeout=0)
    return int(app.return_value or 0)
