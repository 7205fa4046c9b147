"""The sample history's cursor: it follows new grids from the newest, stays put elsewhere, and
keeps its mark by step."""

from __future__ import annotations

from tui_gan.view.samplehistory import Grid, Scrubber, describe


def grids(*steps: int) -> list[Grid]:
    return [Grid(s, s // 100 + 1, f"/run/samples/step_{s:08d}.png") for s in steps]


def test_the_cursor_follows_new_grids_only_from_the_newest():
    s = Scrubber()
    assert s.current is None and not s.update([]) and s.bar(10) == "├────────┤"
    assert s.update(grids(100, 200, 300))
    assert s.current.step == 300  # opens on the newest
    assert s.update(grids(100, 200, 300, 400)) and s.current.step == 400
    s.move(-2)
    assert s.current.step == 200
    assert s.update(grids(100, 200, 300, 400, 500))  # the count changed, the cursor did not
    assert s.current.step == 200
    s.move(-99)
    assert s.current.step == 100
    s.move(99)
    assert s.current.step == 500
    s.first()
    assert s.current.step == 100
    s.last()
    assert s.current.step == 500


def test_a_grid_that_goes_away_moves_the_cursor_to_the_nearest_older_one():
    s = Scrubber()
    s.update(grids(100, 200, 300, 400))
    s.move(-1)
    s.toggle_mark()
    assert s.marked.step == 300
    s.update(grids(100, 200, 400))  # step 300 deleted
    assert s.current.step == 200 and s.marked is None and s.marked_step is None


def test_mark_toggles_and_the_bar_shows_both():
    s = Scrubber()
    s.update(grids(*range(100, 1100, 100)))
    s.first()
    assert s.toggle_mark().step == 100
    s.last()
    assert s.bar(12) == "├◆────────●┤"
    s.move(-1)
    assert s.toggle_mark().step == 900  # the mark moves to the current grid
    assert s.toggle_mark() is None  # marking the marked grid removes the mark
    assert "◆" not in s.bar(12)


def test_captions():
    assert describe(Grid(1200, 16, "x"), 6, 30) == "step 1,200 · epoch 16 · 7/30"
    assert describe(Grid(5, None, "x")) == "step 5"
    assert describe(None) == ""
