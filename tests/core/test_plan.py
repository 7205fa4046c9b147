"""The plan of a resumed run: which total decides, the line that says so, and zero-step refusals."""

from __future__ import annotations

import pytest

from core.config import TrainConfig
from core.plan import (
    NothingToTrain,
    PlanRequest,
    extend_plan,
    planned_steps,
    shown_epoch,
    steps_per_epoch_of,
)

SPE = 78  # the digits preset: 5,000 digits in batches of 64


def finished(epochs: int = 400, max_steps: int | None = None) -> tuple[TrainConfig, int]:
    config = TrainConfig.from_preset(
        "mnist-dcgan", epochs=epochs, max_steps=max_steps, lr_decay="none"
    )
    return config, planned_steps(epochs, max_steps, SPE)


def test_planned_steps_takes_the_smaller_total() -> None:
    assert planned_steps(400, None, SPE) == 31_200
    assert planned_steps(400, 1_000, SPE) == 1_000
    assert planned_steps(2, 1_000, SPE) == 156


def test_raising_max_steps_past_the_epochs_raises_the_epochs() -> None:
    config, step = finished()
    ext = extend_plan(config, step, SPE, PlanRequest(max_steps=40_000))
    assert ext.overrides == {"epochs": 513, "max_steps": 40_000}
    assert planned_steps(ext.overrides["epochs"], ext.overrides["max_steps"], SPE) == 40_000
    assert ext.line == "plan: 400 → 513 epochs, 31,200 → 40,000 steps"


def test_raising_epochs_past_max_steps_lifts_the_step_limit() -> None:
    config, step = finished(epochs=400, max_steps=20_000)
    ext = extend_plan(config, step, SPE, PlanRequest(epochs=500))
    assert ext.overrides == {"epochs": 500, "max_steps": None}
    assert ext.line == "plan: 400 → 500 epochs, 20,000 → 39,000 steps"


def test_more_steps_and_more_epochs_count_from_the_checkpoint() -> None:
    config, step = finished()
    by_steps = extend_plan(config, step, SPE, PlanRequest(more_steps=1_000))
    assert (
        planned_steps(by_steps.overrides["epochs"], by_steps.overrides["max_steps"], SPE) == 32_200
    )
    by_epochs = extend_plan(config, step, SPE, PlanRequest(more_epochs=10))
    assert by_epochs.overrides["epochs"] == 410
    assert planned_steps(410, by_epochs.overrides["max_steps"], SPE) == 31_200 + 780


def test_mid_epoch_stop_resumes_without_a_change() -> None:
    config, _ = finished()
    assert extend_plan(config, 1_000, SPE, PlanRequest()) == extend_plan(
        config, 1_000, SPE, PlanRequest(epochs=400)
    )
    assert extend_plan(config, 1_000, SPE, PlanRequest()).overrides == {}
    assert extend_plan(config, 1_000, SPE, PlanRequest()).line == ""


@pytest.mark.parametrize(
    "kwargs", [{}, {"max_steps": 31_200}, {"max_steps": 100}, {"epochs": 399}, {"epochs": 400}]
)
def test_a_plan_that_trains_nothing_is_refused(kwargs: dict[str, int]) -> None:
    config, step = finished()
    with pytest.raises(NothingToTrain, match=r"at step 31,200 .* --more STEPS"):
        extend_plan(config, step, SPE, PlanRequest(**kwargs))


def test_place_of_a_checkpoint_gives_its_epoch_length_and_shown_epoch() -> None:
    assert steps_per_epoch_of(31_200, 400, 0) == SPE
    assert steps_per_epoch_of(31_210, 400, 10) == SPE
    assert steps_per_epoch_of(50, 0, 50) is None
    assert shown_epoch(400, 0) == 400  # a finished 400-epoch run shows 400/400
    assert shown_epoch(0, 0) == 1
    assert shown_epoch(3, 5) == 4


def test_extending_a_cosine_run_says_how_its_lr_changes() -> None:
    config = TrainConfig.from_preset(
        "mnist-dcgan", epochs=400, lr_decay="cosine", lr_g=4e-4, lr_d=4e-4
    )
    line = extend_plan(config, 31_200, SPE, PlanRequest(max_steps=40_000)).line
    assert line.startswith(
        "plan: 400 → 513 epochs, 31,200 → 40,000 steps; the cosine lr schedule now ends"
    )
    assert (
        "lr_g goes 2e-05 → " in line
    )  # the floor (5 %) of 4e-4, then a higher share of the longer plan


def test_a_checkpoint_tells_its_epoch_length_by_field_by_place_or_by_counting() -> None:
    from core.plan import checkpoint_steps_per_epoch

    config = TrainConfig.from_preset("ring8-mlp", subset=1000, batch_size=100)
    saved = {"steps_per_epoch": 10, "step": 5, "epoch": 0, "batch": 5, "world_size": 1}
    assert checkpoint_steps_per_epoch(saved, config, 1) == 10
    legacy = {"step": 25, "epoch": 2, "batch": 5}
    assert checkpoint_steps_per_epoch(legacy, config, 1) == 10
    first_epoch = {
        "step": 5,
        "epoch": 0,
        "batch": 5,
    }  # an old checkpoint in epoch 1: the data set is counted
    assert checkpoint_steps_per_epoch(first_epoch, config, 1) == 10
    assert checkpoint_steps_per_epoch(saved, config, 2) == 5  # another world size: counted for it
