"""The hyperparameters form: live values, checked as you type, applied as one SetHyperparams."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Static

from core.config import FIELDS
from core.errors import ConfigError
from tui_gan.view.hparams import EDITABLE, RESTART_ONLY, changed_values, check_value
from tui_gan.view.runview import format_number


class FieldValidator(Validator):
    """Checks one field's text with the trainer's own rules."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def validate(self, value: str) -> ValidationResult:
        try:
            check_value(self.key, value)
        except ConfigError as exc:
            return self.failure(str(exc).removeprefix(f"{self.key}: "))
        return self.success()


class HyperparamsForm(ModalScreen[dict[str, Any] | None]):
    """Dismisses with the changed values (at least one), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="hparams"):
            yield Label("Hyperparameters (applied at the next step)", classes="dialog-title")
            with VerticalScroll(id="hparams-scroll"), Grid(id="hparams-grid"):
                for key in EDITABLE:
                    yield Label(key, classes="field-name")
                    yield Input(
                        value=format_number(self.config.get(key, "")),
                        id=f"in-{key}",
                        validators=[FieldValidator(key)],
                        valid_empty=False,
                        tooltip=FIELDS[key].describe(),
                        compact=True,
                    )
                    yield Static("", id=f"err-{key}", classes="field-error")
                for key in RESTART_ONLY:
                    if key in self.config:
                        yield Label(key, classes="field-name")
                        yield Input(
                            value=format_number(self.config[key]),
                            disabled=True,
                            id=f"ro-{key}",
                            compact=True,
                        )
                        yield Static("needs a restart", classes="field-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (ctrl+s)", id="apply", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#in-{EDITABLE[0]}", Input).focus()

    def texts(self) -> dict[str, str]:
        return {key: self.query_one(f"#in-{key}", Input).value for key in EDITABLE}

    @on(Input.Changed)
    def show_problem(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("in-")
        if key not in EDITABLE:
            return
        result = event.validation_result
        problem = (
            "" if result is None or result.is_valid else "; ".join(result.failure_descriptions)
        )
        self.query_one(f"#err-{key}", Static).update(problem)
        self.query_one("#apply", Button).disabled = not self.all_valid()

    def all_valid(self) -> bool:
        try:
            changed_values(self.config, self.texts())
        except ConfigError:
            return False
        return True

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def action_apply(self) -> None:
        try:
            changes = changed_values(self.config, self.texts())
        except ConfigError as exc:
            self.notify(str(exc), severity="error", title="not applied")
            return
        if not changes:
            self.notify("nothing changed")
            return
        self.dismiss(changes)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
