"""Steps of the app tests that drive it with Pilot: open a screen, read what a widget shows."""

from __future__ import annotations

import io

from rich.console import Console

from tui_gan.app.dialogs.hyperparams import HyperparamsForm


def text_of(widget) -> str:
    """The plain text a Static shows."""
    console = Console(width=max(widget.size.width, 40), file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


async def open_browser(app, pilot) -> None:
    app.poll()
    await pilot.press("c")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_form(app, pilot) -> HyperparamsForm:
    app.poll()
    await pilot.pause()
    await pilot.press("h")
    assert isinstance(app.screen, HyperparamsForm)
    return app.screen
