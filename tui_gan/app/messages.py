"""Messages between the parts of the app: requests screens post to the app, which owns the session
and the screen stack (screens never call the app's methods), and what export workers report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message
from textual.screen import Screen


class ResumeRequested(Message):
    """Stop the current run and continue from `checkpoint` in a new session."""

    def __init__(self, checkpoint: str) -> None:
        super().__init__()
        self.checkpoint = checkpoint


class DialogRequested(Message):
    """Show `dialog` over the current screen; `answered` gets what it dismisses with."""

    def __init__(self, dialog: Screen[Any], answered: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self.dialog, self.answered = dialog, answered


class ExportDone(Message):
    """An export worker wrote `path`, or could not (`path` None, `error` why)."""

    def __init__(self, path: str | None, error: str = "") -> None:
        super().__init__()
        self.path, self.error = path, error
