"""core.tensorboard: the event file read back by TensorBoard's own EventAccumulator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core import tensorboard
from core.errors import ExportError
from tests.core.test_scalars import RETRAINED, resumed_run
from tests.fakes import steps

pytest.importorskip(
    "tensorboard", reason="the tensorboard extra: pip install 'tui-gan[tensorboard]'"
)
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)


def accumulate(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_scalars_and_grids_at_their_steps(tmp_path: Path) -> None:
    run = resumed_run(tmp_path / "run")
    path, n_scalars, n_images = tensorboard.export_tensorboard(run, tmp_path / "tb")
    assert path.parent == tmp_path / "tb" / "run" and "tfevents" in path.name
    assert (n_scalars, n_images) == (12 + 2, 2)
    acc = accumulate(path.parent)
    tags = acc.Tags()
    assert set(tags["scalars"]) == {
        "loss/D",
        "loss/G",
        "D_output/D(x)",
        "D_output/D(G(z))",
        "lr/G",
        "lr/D",
        "speed/images_per_s",
        "eval/modes",
        "eval/n_modes",
        "eval_real_data/modes",
        "eval_real_data/n_modes",
    }
    expected = {e.step: e for e in steps(1, 12)}
    loss_d = acc.Scalars("loss/D")
    assert [e.step for e in loss_d] == list(range(1, 13))  # the superseded 11-16 once, retrained
    assert loss_d[-1].value == pytest.approx(expected[12].loss_d + RETRAINED, rel=1e-6)
    d_x = {e.step: e for e in acc.Scalars("D_output/D(x)")}
    assert d_x[7].value == pytest.approx(expected[7].d_x, rel=1e-6)
    assert d_x[7].wall_time == pytest.approx(expected[7].time)
    assert [(e.step, e.value) for e in acc.Scalars("eval/modes")] == [(5, 1.0), (10, 2.0)]
    assert [e.value for e in acc.Scalars("eval_real_data/modes")] == [8.0, 8.0]
    # step 15's grid belongs to the training the resume threw away
    images = acc.Images("samples")
    assert [e.step for e in images] == [5, 10]
    grid = run / "samples" / "step_00000010.png"
    assert images[1].encoded_image_string == grid.read_bytes()
    assert (images[1].width, images[1].height) == (62, 62)


def test_exporting_again_replaces_the_run_and_keeps_the_others(tmp_path: Path) -> None:
    run = resumed_run(tmp_path / "run")
    other = resumed_run(tmp_path / "other")
    first, _, _ = tensorboard.export_tensorboard(run, tmp_path / "tb")
    first.rename(first.with_name("events.out.tfevents.0000000001.old.tui-gan"))
    (first.parent / "events.out.tfevents.1.elsewhere").write_bytes(b"")  # not ours: kept
    again, _, _ = tensorboard.export_tensorboard(run, tmp_path / "tb")
    tensorboard.export_tensorboard(other, tmp_path / "tb")
    assert sorted(p.name for p in (tmp_path / "tb" / "run").iterdir()) == sorted(
        [again.name, "events.out.tfevents.1.elsewhere"]
    )
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["other", "run"]
    assert [e.step for e in accumulate(again.parent).Scalars("loss/G")] == list(range(1, 13))


def test_without_tensorboard_one_line_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = resumed_run(tmp_path / "run")
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails
    with pytest.raises(ExportError) as info:
        tensorboard.export_tensorboard(run, tmp_path / "tb")
    assert str(info.value) == tensorboard.INSTALL_HINT
    assert "pip install 'tui-gan[tensorboard]'" in str(info.value)
    assert not (tmp_path / "tb").exists()


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    run = resumed_run(tmp_path / "run")
    (tmp_path / "tb").write_text("x")
    with pytest.raises(ExportError, match="not a directory"):
        tensorboard.export_tensorboard(run, tmp_path / "tb")
