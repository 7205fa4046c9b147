"""The runs under a folder, as `tui-gan runs` lists them: state (crashed included), progress, losses.

One damaged run must not hide the others: every file is read only if it is a regular file, and
only its first bytes; a run that cannot be read is listed with state `unreadable` and the reason.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from core.control import socket_path
from core.errors import RunDirError
from core.rundir import (
    CONFIG_FILE,
    CRASHED,
    EVENTS_FILE,
    is_run_dir,
    load_status,
    lock_held,
    read_regular,
)

UNREADABLE = "unreadable"
MAX_CONFIG_BYTES = 256 * 1024
MAX_FIRST_EVENT_BYTES = 1 << 20  # the first event (run_started, with the config) is a few kB
LATEST_TIME = 2**36  # seconds since 1970 (year 4147): later is no time a clock gave


class _Unreadable(Exception):
    """A file of the run that is there but cannot be read; the message names it."""


@dataclass(frozen=True)
class RunSummary:
    """What one line of the runs table shows."""

    path: Path
    name: str
    preset: str
    state: str
    step: int | None
    epoch: int | None
    loss_d: float | None
    loss_g: float | None
    started: float | None  # wall-clock time of the first event
    attachable: bool
    problem: str = ""  # why the run cannot be read, when its state is `unreadable`
    note: str = ""  # what is uncertain about a readable run (status.json could not be written)


def _read(path: Path, limit: int) -> bytes | None:
    """The first `limit` bytes of a run's file; None when it is missing."""
    try:
        return read_regular(path, limit)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Unreadable(f"{path.name}: {exc.strerror or exc}") from None


def _preset(path: Path) -> str:
    raw = _read(path / CONFIG_FILE, MAX_CONFIG_BYTES)
    try:
        return str(tomllib.loads(raw.decode("utf-8-sig")).get("preset", "?"))[:40] if raw else "?"
    except (ValueError, RecursionError):
        return "?"  # a hand-edited config that no longer parses: the run is still worth listing


def _started(path: Path) -> float | None:
    raw = _read(path / EVENTS_FILE, MAX_FIRST_EVENT_BYTES)
    try:
        first = json.loads(raw.split(b"\n", 1)[0]) if raw else None
    except (ValueError, RecursionError):
        return None
    when = first.get("time") if isinstance(first, dict) else None
    return float(when) if _finite(when) and 0 <= when < LATEST_TIME else None


def _finite(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _status(path: Path, alive: bool) -> dict[str, Any]:
    try:
        status = load_status(path)
    except ValueError as exc:
        raise _Unreadable(str(exc)) from None
    if status is None:
        return {"state": "starting" if alive else CRASHED}
    for key in ("step", "epoch", "loss_d", "loss_g"):
        value = status.get(key)
        if value is not None and not _finite(value):
            raise _Unreadable(f"status.json: {key} is {str(value)[:20]}, not a finite number")
    return status


def summarize(path: Path) -> RunSummary:
    """One run directory's summary; never raises and never blocks for a damaged directory."""
    alive = lock_held(path)
    try:
        status = _status(path, alive)
        preset, started = _preset(path), _started(path)
    except (_Unreadable, OSError) as exc:
        problem = str(exc) if isinstance(exc, _Unreadable) else f"{exc.strerror or exc}"
        return RunSummary(
            path=path,
            name=path.name,
            preset="?",
            state=UNREADABLE,
            step=None,
            epoch=None,
            loss_d=None,
            loss_g=None,
            started=None,
            attachable=False,
            problem=problem,
        )

    def number(key: str, kind: type) -> Any:
        value = status.get(key)
        return kind(value) if _finite(value) else None

    return RunSummary(
        path=path,
        name=path.name,
        preset=preset,
        state=str(status.get("state", "?"))[:40],
        step=number("step", int),
        epoch=number("epoch", int),
        loss_d=number("loss_d", float),
        loss_g=number("loss_g", float),
        started=started,
        attachable=alive and socket_path(path) is not None,
        note=str(status.get("status_note", ""))[:200],
    )


def _is_run(path: Path) -> bool:
    try:
        return is_run_dir(path)
    except OSError:  # a folder we may not look into: listed, as unreadable
        return True


def list_runs(root: str | Path) -> list[RunSummary]:
    """The runs directly under `root` (or `root` itself when it is a run), oldest first."""
    root = Path(root)
    try:
        candidates = [root] if is_run_dir(root) else [p for p in root.iterdir() if _is_run(p)]
    except OSError as exc:
        raise RunDirError(f"{root}: cannot list runs: {exc.strerror or exc}") from None
    runs = [summarize(p) for p in candidates]
    return sorted(runs, key=lambda r: (r.started or 0.0, r.name))
