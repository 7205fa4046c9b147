"""The hyperparameter form shows `augment` (issue 18) read-only: it needs a restart."""

from __future__ import annotations

from textual.widgets import Input

from core import commands as cmd
from tests.fakes import FakeSession, started, steps
from tests.tui_gan.app.pilots import open_form
from tui_gan.app.app import GanApp


async def test_augment_is_shown_read_only_with_the_runs_value(run_dir):
    session = FakeSession(run_dir, [*started(run_dir, augment="diffaugment"), *steps(1, 20)])
    app = GanApp(session)
    async with app.run_test(size=(80, 40)) as pilot:
        form = await open_form(app, pilot)
        field = form.query_one("#ro-augment", Input)
        assert field.disabled and field.value == "diffaugment"
        assert not form.query("#in-augment")  # no editable twin
        form.query_one("#in-lr_g", Input).value = "1e-4"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert session.sent == [cmd.SetHyperparams(lr_g=1e-4)]  # augment is never sent
