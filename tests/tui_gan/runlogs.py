"""Run directories written the way the trainer writes them (config.toml, events.jsonl, status.json),
for the tests of what reads runs from disk: `compare`, `runs`."""

from __future__ import annotations

import math
from pathlib import Path

from core import events as ev
from core.rundir import EventLog, write_status
from tests.fakes import T0, started


def curve_steps(first: int, last: int, scale: float = 1.0) -> list[ev.Event]:
    """StepMetrics whose losses fall at a speed set by `scale`, so runs draw apart."""
    return [
        ev.StepMetrics(
            step=s,
            epoch=(s - 1) // 78 + 1,
            batch=(s - 1) % 78 + 1,
            loss_d=0.6 + 0.5 * math.exp(-s * scale / 300),
            loss_g=1.0 + 2.0 * math.exp(-s * scale / 200),
            d_x=0.7,
            d_g_z=0.3,
            lr_g=2e-4,
            lr_d=2e-4,
            img_per_s=1000.0 * scale,
            time=T0 + 1 + s * 0.05,
        )
        for s in range(first, last + 1)
    ]


def fid_metrics(upto: int, every: int, best_at: int) -> list[ev.Event]:
    """MetricsComputed of FID (digits) and classes every `every` steps; FID lowest at `best_at`."""
    return [
        ev.MetricsComputed(
            s,
            s // 78 + 1,
            {"fid_digits": 10.0 + abs(s - best_at) / 10, "classes": float(min(10, s // every))},
            {"fid_digits": 2.5, "classes": 10.0},
            time=T0 + 1 + s * 0.05,
        )
        for s in range(every, upto + 1, every)
    ]


def write_run(
    root: Path,
    name: str,
    upto: int,
    *,
    state: str | None = ev.FINISHED,
    scale: float = 1.0,
    metrics: list[ev.Event] | None = None,
    **config: object,
) -> Path:
    """A run that logged steps 1…`upto`, ended in `state` (None: no final state, as after a crash)."""
    path = root / name
    path.mkdir(parents=True)
    (path / "config.toml").write_text('preset = "mnist-dcgan"\n')
    log = EventLog(path / "events.jsonl")
    events = started(path, **config) + curve_steps(1, upto, scale) + list(metrics or [])
    for event in sorted(events, key=lambda e: getattr(e, "time", T0)):
        log.write(event)
    if state is not None:
        log.write(ev.StateChanged(state, "done", upto, time=T0 + 1 + upto * 0.05))
    log.close()
    write_status(path, state or ev.RUNNING, upto, upto // 78 + 1)
    return path
