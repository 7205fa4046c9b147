"""The runs under a folder, as `tui-gan runs` lists them: state (crashed included), progress, losses."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.control import socket_path
from core.rundir import CONFIG_FILE, CRASHED, EVENTS_FILE, is_run_dir, lock_held, read_status


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


def _preset(path: Path) -> str:
    try:
        return str(tomllib.loads((path / CONFIG_FILE).read_text()).get("preset", "?"))
    except (OSError, ValueError):
        return "?"


def _started(path: Path) -> float | None:
    try:
        with open(path / EVENTS_FILE, encoding="utf-8") as fh:
            first = json.loads(fh.readline())
        return float(first["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def summarize(path: Path) -> RunSummary:
    """One run directory's summary; never raises for a damaged directory."""
    status = read_status(path)
    alive = lock_held(path)
    if status is None:
        status = {"state": "starting" if alive else CRASHED}

    def number(key: str, kind: type) -> float | int | None:
        value = status.get(key)
        return kind(value) if isinstance(value, (int, float)) else None

    return RunSummary(
        path=path, name=path.name, preset=_preset(path), state=str(status.get("state", "?")),
        step=number("step", int), epoch=number("epoch", int),  # type: ignore[arg-type]
        loss_d=number("loss_d", float), loss_g=number("loss_g", float),  # type: ignore[arg-type]
        started=_started(path), attachable=alive and socket_path(path) is not None,
    )


def list_runs(root: str | Path) -> list[RunSummary]:
    """The runs directly under `root` (or `root` itself when it is a run), oldest first."""
    root = Path(root)
    if is_run_dir(root):
        candidates = [root]
    else:
        candidates = [p for p in root.iterdir() if is_run_dir(p)]
    runs = [summarize(p) for p in candidates]
    return sorted(runs, key=lambda r: (r.started or 0.0, r.name))
