"""The export dialog on a fake session: the GIF and grid it writes, and its errors."""

from __future__ import annotations

from textual.widgets import Input

from tests.fakes import sample_png
from tui_gan.app.app import GanApp

SIZE = (80, 24)


async def test_export_gif_and_grid_write_files(session, run_dir):
    for step in (200, 400):
        sample_png(run_dir / "samples" / f"step_{step:08d}.png")
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        app.poll()
        await pilot.press("e")
        dialog = app.screen
        dialog.query_one("#export-fps", Input).value = "abc"
        await pilot.click("#export-go")
        await pilot.pause()
        assert "not a number" in str(dialog.query_one("#export-status").content)
        dialog.query_one("#export-fps", Input).value = "8"
        dialog.query_one("#export-fps", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        gifs = list((run_dir / "exports").glob("*.gif"))
        assert len(gifs) == 1
        assert "written" in str(dialog.query_one("#export-status").content)
        dialog.query_one("#kind-grid").value = True
        out = run_dir / "mine.png"
        dialog.query_one("#export-path", Input).value = str(out)
        dialog.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert out.exists()
        assert any(str(out) in n.message for n in app._notifications)


async def test_export_without_samples_reports_the_error(run_dir):
    from tests.fakes import FakeSession, started

    app = GanApp(FakeSession(run_dir, started(run_dir)))
    async with app.run_test(size=SIZE) as pilot:
        app.poll()
        await pilot.press("e")
        await pilot.click("#export-go")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any(n.severity == "error" for n in app._notifications)
