"""The checkpoint browser marks the checkpoint keep_best keeps, in a real run's directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from core import events as ev
from core.best import read_best
from core.rundir import read_events
from tests.fakes import FakeSession, trained_run
from tests.tui_gan.app.pilots import open_browser, text_of
from tui_gan.app.app import GanApp
from tui_gan.app.screens.checkpoints import CheckpointsScreen

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_torch_thread")]


async def test_the_best_checkpoint_is_starred_and_described(tmp_path: Path):
    run_dir = tmp_path / "ring"
    trained_run(
        run_dir,
        "ring8-mlp",
        width=128,
        subset=1000,
        batch_size=100,
        eval_every=10,
        eval_samples=200,
        keep_best="high_quality",
        checkpoint_every=20,
        keep_checkpoints=1,
        max_steps=60,
        cpu_threads=1,
    )
    best = read_best(run_dir)
    assert best is not None
    session = FakeSession(run_dir, list(read_events(run_dir / "events.jsonl")))
    session.state = ev.FINISHED
    app = GanApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_browser(app, pilot)
        screen = app.screen
        assert isinstance(screen, CheckpointsScreen)
        table = screen.query_one(DataTable)
        made = {info.path: str(table.get_row_at(i)[-1]) for i, info in enumerate(screen.infos)}
        starred = [Path(p).name for p, text in made.items() if "★" in text]
        assert starred == [best.checkpoint], made
        # the metric column is keep_best's metric, and the detail pane says which value was best
        assert "HQ %" in [str(c.label) for c in table.columns.values()]
        row = next(i for i, info in enumerate(screen.infos) if info.path.endswith(best.checkpoint))
        table.move_cursor(row=row)
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = text_of(screen.query_one("#ckpt-detail"))
        assert f"★ best HQ % {best.value:.1f}" in detail, detail
