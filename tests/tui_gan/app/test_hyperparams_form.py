"""The hyperparameter form on a fake session: what it sends, refuses and shows read-only."""

from __future__ import annotations

from textual.widgets import Button, Input

from core import commands as cmd
from tests.tui_gan.app.pilots import open_form
from tui_gan.app.app import GanApp
from tui_gan.app.dialogs.hyperparams import HyperparamsForm
from tui_gan.app.screens.dashboard import DashboardScreen

SIZE = (80, 24)


INVALID = [
    ("lr_g", "abc"),
    ("lr_g", "-1"),
    ("lr_g", "0"),
    ("lr_g", "nan"),
    ("lr_g", "inf"),
    ("lr_d", "1e300"),
    ("beta1", "1"),
    ("beta2", "-0.1"),
    ("sample_every", "2.5"),
    ("checkpoint_every", "1e30"),
    ("lr_d", ""),
    ("eval_every", "-100"),
    ("eval_every", "2.5"),
    ("eval_every", "often"),
    ("eval_every", "1e30"),
]


async def test_invalid_values_show_why_and_never_send(session):
    """One form, each bad value in turn (an app per value costs a second each): the reason shows,
    Apply is off, Enter and ctrl+s send nothing, and putting the value back clears the error."""
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        for key, text in INVALID:
            field = form.query_one(f"#in-{key}", Input)
            good = field.value
            field.focus()
            field.value = text
            await pilot.pause()
            assert str(form.query_one(f"#err-{key}").content), (key, text)  # the reason is shown
            assert form.query_one("#apply", Button).disabled, (key, text)
            await pilot.press("enter")  # submitting anyway is refused too
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, HyperparamsForm), (key, text)
            assert session.sent == [], (key, text)
            field.value = good
            await pilot.pause()
            assert not str(form.query_one(f"#err-{key}").content), (key, text)


async def test_apply_sends_exactly_one_command_with_all_changes(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#in-lr_g", Input).value = "1e-4"
        form.query_one("#in-beta1", Input).value = "0.6"
        form.query_one("#in-sample_every", Input).value = "50"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert session.sent == [cmd.SetHyperparams(lr_g=1e-4, beta1=0.6, sample_every=50)]


async def test_unchanged_form_sends_nothing(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(app, pilot)
        await pilot.press("ctrl+s")
        await pilot.press("escape")
        await pilot.pause()
        assert session.sent == [] and isinstance(app.screen, DashboardScreen)


async def test_restart_fields_are_read_only(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        assert form.query_one("#ro-batch_size", Input).disabled
        assert form.query_one("#ro-batch_size", Input).value == "64"
        # the decay is shown so that an lr in force below the form's value makes sense
        assert form.query_one("#ro-lr_decay", Input).disabled
        # the generator's shape and its moving average are fixed for the run
        assert (
            form.query_one("#ro-g_ema", Input).disabled
            and form.query_one("#ro-g_ema", Input).value == "0.999"
        )
        assert form.query_one("#ro-g_output_conv", Input).value == "false"
