"""Commands a UI or script sends to the trainer: frozen dataclasses named as imperatives."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any, ClassVar

MAX_ID_LENGTH = 64


def new_id() -> str:
    """A fresh random command id."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Command:
    """Base of all commands; the trainer answers each with one event carrying its `id`."""

    kind: ClassVar[str] = "command"
    # Not compared: two commands that ask the same thing are equal; the id only names the message.
    id: str = field(default_factory=new_id, kw_only=True, compare=False)


@dataclass(frozen=True)
class Pause(Command):
    kind: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resume(Command):
    kind: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Stop(Command):
    """End the run; with `checkpoint` a final checkpoint is written first."""

    kind: ClassVar[str] = "stop"
    checkpoint: bool = False
    reason: str = "stop requested"


@dataclass(frozen=True, init=False)
class SetHyperparams(Command):
    """Change live hyperparameters, e.g. `SetHyperparams(lr_g=1e-4, lr_d=4e-4)`."""

    kind: ClassVar[str] = "set_hyperparams"
    changes: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self, changes: dict[str, Any] | None = None, /, *, id: str | None = None, **kwargs: Any
    ) -> None:
        object.__setattr__(self, "changes", {**(changes or {}), **kwargs})
        object.__setattr__(self, "id", id if id is not None else new_id())


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    kind: ClassVar[str] = "save_checkpoint"


@dataclass(frozen=True)
class SampleNow(Command):
    kind: ClassVar[str] = "sample_now"


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.kind: cls for cls in (Pause, Resume, Stop, SetHyperparams, SaveCheckpoint, SampleNow)
}


def to_json(command: Command) -> dict[str, Any]:
    """The command as one JSON-ready dict with its `kind`."""
    return {
        "kind": command.kind,
        **{f.name: getattr(command, f.name) for f in dataclasses.fields(command)},
    }


def from_json(data: dict[str, Any]) -> Command:
    """Rebuild a command from `to_json` output; anything malformed raises ValueError."""
    if not isinstance(data, dict):
        raise ValueError("a command is a JSON object")
    data = dict(data)
    kind = data.pop("kind", None)
    cls = (
        COMMAND_TYPES.get(kind) if isinstance(kind, str) else None
    )  # a list or object kind is unhashable
    if cls is None:
        raise ValueError(f"unknown command {kind!r}; known: {', '.join(COMMAND_TYPES)}")
    command_id = data.pop("id", None)
    if command_id is None:
        command_id = new_id()
    elif not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_ID_LENGTH:
        raise ValueError(f"a command id is a string of 1 to {MAX_ID_LENGTH} characters")
    if cls is SetHyperparams:
        changes = data.pop("changes", {})
        if data or not isinstance(changes, dict):
            raise ValueError("set_hyperparams takes one object 'changes'")
        return SetHyperparams(changes, id=command_id)
    try:
        return cls(**data, id=command_id)
    except TypeError as exc:
        raise ValueError(f"bad {kind} command: {exc}") from None
