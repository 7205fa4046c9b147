"""Events and commands: every kind round-trips through its JSON object exactly."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig

SAMPLES: list[ev.Event] = [
    ev.RunStarted(
        run_dir="runs/x",
        config=TrainConfig().to_dict(),
        device="cpu",
        planned_steps=100,
        steps_per_epoch=78,
        start_step=5,
        resumed_from="runs/x/checkpoints/step_00000005.pt",
    ),
    ev.StepMetrics(
        step=3,
        epoch=1,
        batch=2,
        loss_d=1.25,
        loss_g=0.6931471805599453,
        d_x=0.5,
        d_g_z=0.125,
        lr_g=2e-4,
        lr_d=1e-3,
        img_per_s=412.5,
    ),
    ev.EpochEnded(epoch=2, step=156, loss_d=1.1, loss_g=0.9, seconds=12.5),
    ev.SamplesSaved(step=200, epoch=3, path="runs/x/samples/step_00000200.png"),
    ev.MetricsComputed(
        step=400, epoch=5, values={"fid": 12.5, "modes": 8.0}, reference={"fid": 0.75}, note="toy"
    ),
    ev.CheckpointSaved(
        step=1000, epoch=13, path="runs/x/checkpoints/step_00001000.pt", reason="periodic"
    ),
    ev.StateChanged(state=ev.PAUSED, reason="pause requested", step=7),
    ev.HparamsChanged(changes={"lr_g": 1e-4, "beta1": 0.0, "sample_every": 50}, step=9),
    ev.Alert(level="error", message="loss is not finite", step=11),
    ev.ImagesDecoded(done=1200, total=5000),
    ev.RunFinished(step=1950, epoch=25, seconds=321.0),
    ev.RunFailed(message="cifar10: not found under data", step=0),
    ev.CommandDone(id="3f2a9c01d4e5b6a7", command="pause", detail="paused at step 12", step=12),
    ev.CommandRefused(
        id="client-7", command="set_hyperparams", reason="width needs a restart", step=12
    ),
]


def test_samples_cover_every_event_kind():
    kinds = {e.kind for e in SAMPLES}
    assert kinds == set(ev.EVENT_TYPES)  # a new event type needs a sample here
    required = {
        "run_started",
        "step",
        "epoch_ended",
        "samples_saved",
        "checkpoint_saved",
        "state_changed",
        "hparams_changed",
        "alert",
        "run_finished",
        "run_failed",
        "command_done",
        "command_refused",
    }
    assert required <= kinds


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind)
def test_event_round_trips_through_json(event):
    data = ev.to_json(event)
    assert data["kind"] == event.kind
    text = json.dumps(data)
    back = ev.from_json(json.loads(text))
    assert back == event and type(back) is type(event)
    assert back.time == event.time


@pytest.mark.parametrize("cls", list(ev.EVENT_TYPES.values()), ids=list(ev.EVENT_TYPES))
def test_every_registered_event_is_frozen_and_json_ready(cls):
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen
    assert "time" in {f.name for f in dataclasses.fields(cls)}


def test_non_finite_losses_survive_the_round_trip():
    event = ev.StepMetrics(
        step=1,
        epoch=1,
        batch=1,
        loss_d=float("nan"),
        loss_g=float("inf"),
        d_x=0.5,
        d_g_z=0.5,
        lr_g=1e-4,
        lr_d=1e-4,
        img_per_s=1.0,
    )
    back = ev.from_json(json.loads(json.dumps(ev.to_json(event))))
    assert math.isnan(back.loss_d) and back.loss_g == float("inf")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"kind": "nope"}, "unknown event kind 'nope'"),
        ({"step": 1}, "unknown event kind None"),
        ({"kind": "alert", "level": "info", "message": "x", "colour": "red"}, "bad alert event"),
        ({"kind": "step", "step": 1}, "bad step event"),
    ],
)
def test_malformed_events_raise_value_error(data, match):
    with pytest.raises(ValueError, match=match):
        ev.from_json(data)


COMMANDS = [
    cmd.Pause(),
    cmd.Resume(),
    cmd.Stop(),
    cmd.Stop(checkpoint=True, reason="SIGTERM"),
    cmd.SetHyperparams(lr_g=1e-4, beta2=0.99),
    cmd.SaveCheckpoint(),
    cmd.SampleNow(),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.kind)
def test_command_round_trips_through_json(command):
    back = cmd.from_json(json.loads(json.dumps(cmd.to_json(command))))
    assert back == command and type(back) is type(command) and back.id == command.id


def test_set_hyperparams_takes_a_dict_or_keywords():
    assert cmd.SetHyperparams({"lr_g": 1e-3}, lr_d=2e-3).changes == {"lr_g": 1e-3, "lr_d": 2e-3}
    with pytest.raises(ValueError, match="unknown command 'jump'"):
        cmd.from_json({"kind": "jump"})
    with pytest.raises(ValueError, match="one object 'changes'"):
        cmd.from_json({"kind": "set_hyperparams", "lr_g": 1e-3})


def test_every_command_gets_a_fresh_id_that_survives_json():
    ids = {cmd.Pause().id for _ in range(100)} | {cmd.SetHyperparams(lr_g=1e-3).id}
    assert len(ids) == 101 and all(
        isinstance(i, str) and 0 < len(i) <= cmd.MAX_ID_LENGTH for i in ids
    )
    stop = cmd.Stop(checkpoint=True, id="mine")
    assert cmd.to_json(stop) == {
        "kind": "stop",
        "id": "mine",
        "checkpoint": True,
        "reason": "stop requested",
    }
    back = cmd.from_json(cmd.to_json(stop))
    assert back == stop and back.id == "mine"
    assert cmd.Pause() == cmd.Pause(id="other")  # equal commands whatever their ids
    assert (
        cmd.from_json({"kind": "set_hyperparams", "id": "x1", "changes": {"lr_g": 1e-3}}).id == "x1"
    )
    made = cmd.from_json({"kind": "pause"})
    assert made.id and made.id != cmd.from_json({"kind": "pause"}).id  # one is made when absent


@pytest.mark.parametrize("bad", [7, "", "x" * (cmd.MAX_ID_LENGTH + 1), ["a"], True])
def test_a_command_id_that_is_not_a_short_string_is_refused(bad):
    with pytest.raises(ValueError, match="command id"):
        cmd.from_json({"kind": "pause", "id": bad})
