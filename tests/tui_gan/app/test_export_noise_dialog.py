"""The export dialog's new samples from the newest checkpoint: walks, GIF, truncation, bad numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import Checkbox, Input, RadioButton

from tests.fakes import FakeSession, started, trained_run
from tests.tui_gan.app.pilots import text_of
from tui_gan.app.app import GanApp
from tui_gan.app.dialogs.export import ExportDialog

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = (80, 24)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny MNIST run that trained 2 steps and saved its final checkpoint."""
    return trained_run(tmp_path_factory.mktemp("dialog") / "run")


async def open_new_samples(app: GanApp, pilot) -> ExportDialog:
    app.poll()
    await pilot.press("e")
    dialog = app.screen
    assert isinstance(dialog, ExportDialog)
    assert not dialog.query_one("#export-noise").display  # only for new samples
    dialog.query_one("#kind-new", RadioButton).value = True
    await pilot.pause()
    assert dialog.query_one("#export-noise").display
    assert not dialog.query_one("#export-numbers").display  # fps and every are the GIF's
    return dialog


async def fill(dialog: ExportDialog, pilot, rows: str, psi: str, gif: bool, out: str = "") -> None:
    dialog.query_one("#export-interpolate", Input).value = rows
    dialog.query_one("#export-truncation", Input).value = psi
    dialog.query_one("#export-walk-gif", Checkbox).value = gif
    dialog.query_one("#export-path", Input).value = out
    dialog.query_one("#export-truncation", Input).focus()
    await pilot.press("enter")  # a click would be lost in the button's 0.2 s pressed look
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


BAD = [
    ("0", "", False, "interpolate rows: '0' must be in (0, 32]"),
    ("two", "", False, "interpolate rows: 'two' is not a whole number"),
    ("2.5", "", False, "interpolate rows: '2.5' is not a whole number"),
    ("99", "", False, "interpolate rows: '99' must be in (0, 32]"),
    ("", "0", False, "truncation: 0 is not allowed; expected a number ≥ 0.01"),
    ("", "-1", False, "truncation: -1 is not allowed; expected a number ≥ 0.01"),
    ("", "nan", False, "truncation: nan is not allowed; expected a number ≥ 0.01"),
    ("2", "0.001", False, "truncation: 0.001 is not allowed; expected a number ≥ 0.01"),
    ("", "[wide]", False, "truncation: '[wide]' is not a number"),
    ("", "", True, "a GIF along the path needs a number of interpolate rows"),
]


async def test_bad_numbers_show_one_line_and_write_nothing(trained: Path) -> None:
    app = GanApp(FakeSession(trained, started(trained)))
    before = sorted(trained.rglob("*"))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_new_samples(app, pilot)
        for rows, psi, gif, says in BAD:
            await fill(dialog, pilot, rows, psi, gif)
            assert text_of(dialog.query_one("#export-status")).strip() == says
            assert not dialog.busy and not dialog.query_one("#export-go").disabled
        assert not app._notifications  # nothing started, so nothing reported
    assert sorted(trained.rglob("*")) == before


async def test_walks_gif_and_truncated_samples_are_written(trained: Path, tmp_path: Path) -> None:
    app = GanApp(FakeSession(trained, started(trained)))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_new_samples(app, pilot)
        noise_row = dialog.query_one("#export-noise").region
        assert noise_row.height == 3 and noise_row.bottom <= SIZE[1]  # fits at 80×24

        dialog.query_one("#export-fps", Input).value = "abc"  # the GIF history's, hidden here
        await fill(dialog, pilot, "2", "0.7", False, str(tmp_path / "walk.png"))
        assert "written" in text_of(dialog.query_one("#export-status"))
        with Image.open(tmp_path / "walk.png") as img:
            assert img.size == (8 * 30 + 2, 2 * 30 + 2)  # 2 rows of the default 8 steps

        await fill(dialog, pilot, "3", "", True, str(tmp_path / "walk.gif"))
        with Image.open(tmp_path / "walk.gif") as img:
            assert img.n_frames == 2 * 24 - 2  # the default 24 steps, there and back

        await fill(dialog, pilot, "", "0.5", False)
        [plain] = (trained / "exports").glob("sample-step_*-trunc_0.5.png")
        with Image.open(plain) as img:
            assert img.size == (8 * 30 + 2, 8 * 30 + 2)  # 64 samples
        assert any(str(plain) in n.message for n in app._notifications)
