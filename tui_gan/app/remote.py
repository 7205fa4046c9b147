"""A session on a run in another process, over the run's control socket (`core.control`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from core import commands as cmd
from core import events as ev
from core.control import ControlClient, ControlError
from tui_gan.app.session import MAX_PENDING_STEPS, EventInbox, Session


class RemoteSession(Session):
    """Attach to a running training: its history first, then live events; close() only detaches.

    A refusal from the server (a malformed or rate-limited command, a run that has ended) arrives
    as an Alert event, so the app shows it like the trainer's own refusals.
    """

    def __init__(
        self, run_dir: str | Path, connect_timeout: float = 5.0, max_steps: int = MAX_PENDING_STEPS
    ) -> None:
        self.run_dir = Path(run_dir)
        self._client = ControlClient(
            self.run_dir, timeout=connect_timeout
        )  # ControlError if unreachable
        self._greeting(connect_timeout)
        self._inbox = EventInbox(max_steps)  # step events beyond this many unread are dropped
        self._connected = True
        self._state = ""
        self._error: str | None = None
        self._stop_sent = False
        self._closing = False
        self.live = threading.Event()  # set once the history is replayed
        self.ended = threading.Event()  # set when the server hung up (run over, or we were dropped)
        self._reader = threading.Thread(target=self._read_loop, name="tui-gan-remote", daemon=True)
        self._reader.start()

    def _greeting(self, timeout: float) -> None:
        """Wait for the server's hello; a refusal (too many clients, backed off) is a ControlError,
        as in `ctl`, rather than an app that opens on a lost connection."""
        try:
            first = self._client.next_message(timeout)
        except TimeoutError:
            first = {"reply": "refused", "reason": f"no answer from the run within {timeout:g} s"}
        if first is None or first.get("reply") == "refused":
            self._client.close()
            reason = "it closed the connection" if first is None else first.get("reason", "?")
            raise ControlError(f"{self.run_dir}: the run refused this client: {reason}")
        self._take(first)

    def _read_loop(self) -> None:
        try:
            while True:
                message = self._client.next_message()
                if message is None:
                    break
                self._take(message)
        except (OSError, ValueError):
            pass
        finally:
            if self._state not in ev.FINAL_STATES and not self._closing:
                self._inbox.put(
                    ev.Alert(
                        "error",
                        "lost the connection to the run (did its process die? "
                        "`tui-gan runs` shows its state)",
                    )
                )
            self._connected = False
            self.live.set()
            self.ended.set()

    def _take(self, message: dict[str, Any]) -> None:
        reply = message.get("reply")
        if reply is None:
            try:
                event = ev.from_json(message)
            except (ValueError, TypeError):
                return  # a kind this version does not know
            if isinstance(event, ev.StateChanged):
                self._state = event.state
            elif isinstance(event, ev.RunFailed):
                self._error = event.message
            self._inbox.put(event)
        elif reply in ("hello", "live", "bye"):
            self._state = message.get("state") or self._state
            if reply == "live":
                self.live.set()
        elif reply == "refused":
            self._inbox.put(
                ev.Alert("warning", f"refused by the run: {message.get('reason', '?')}")
            )

    def events(self) -> list[ev.Event]:
        return self._inbox.drain()

    def send(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Stop):
            self._stop_sent = True
        try:
            self._client.send(command)
        except OSError as exc:
            self._connected = False
            self._inbox.put(
                ev.Alert("error", f"lost the connection to the run: {exc.strerror or exc}")
            )

    @property
    def alive(self) -> bool:
        return self._connected and self._state not in ev.FINAL_STATES

    @property
    def state(self) -> str:
        """The run's last known state ("" before the server said hello)."""
        return self._state

    @property
    def error(self) -> str | None:
        """The run's failure, once its RunFailed event arrived; else None."""
        return self._error

    def close(self, timeout: float | None = None) -> None:
        """Detach; the run goes on. After a Stop sent from here, first wait (up to `timeout`) for
        the run to end, so a caller that asked to stop sees it stopped."""
        if self._stop_sent:
            self.ended.wait(timeout)
        self._closing = True
        self._connected = False
        self._client.close()
        self._reader.join(1.0)
