"""keep_best: real tiny runs on the 8-Gaussian ring keep the checkpoint of their best evaluation,
never prune it, remember it across a resume, and hand it to --resume/sample/export-weights --best."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from core import events as ev
from core.best import Best, best_checkpoint, read_best, write_best
from core.checkpoints import list_checkpoints, load_checkpoint
from core.config import TrainConfig
from core.errors import CheckpointError, ConfigError, UsageError
from core.metricdirection import HIGHER_IS_BETTER, is_better
from core.plan import PlanRequest
from core.trainer import Trainer
from tui_gan.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 10 steps an epoch; an evaluation of 200 points takes a few milliseconds
TOY = dict(
    subset=1000,
    batch_size=100,
    sample_every=0,
    device="cpu",
    eval_every=10,
    eval_samples=200,
    log_every="1",
    cpu_threads=1,
)


def run(run_dir: Path, **overrides) -> list[ev.Event]:
    """Train a ring8 MLP GAN in this thread; its events."""
    config = TrainConfig.from_preset("ring8-mlp", **{**TOY, "run_dir": str(run_dir), **overrides})
    return train(Trainer(config))


def train(trainer: Trainer) -> list[ev.Event]:
    events: list[ev.Event] = []
    trainer.serve_control = False
    trainer.subscribe(events.append)
    assert trainer.run() == ev.FINISHED, trainer.error
    return events


def evaluations(events: list[ev.Event], metric: str) -> list[tuple[int, float]]:
    return [(e.step, e.values[metric]) for e in events if isinstance(e, ev.MetricsComputed)]


# -- the config refuses what cannot work, in one line -------------------------------------------


@pytest.mark.parametrize(
    ("preset", "overrides", "words"),
    [
        ("ring8-mlp", {"eval_every": 0}, ("keep_best", "eval_every is 0")),
        ("ring8-mlp", {"eval_every": 10, "keep_best": "fid_digits"}, ("not compute", "modes")),
        ("mnist-dcgan", {"eval_every": 10, "keep_best": "modes"}, ("not compute", "fid_digits")),
        ("ring8-mlp", {"eval_every": 10, "keep_best": "hq"}, ("unknown metric", "high_quality")),
        ("cifar10-dcgan32", {"eval_every": 10, "keep_best": "fid_digits"}, ("fid, kid",)),
        ("cifar10-dcgan32", {"eval_every": 10, "keep_best": "fid"}, ("inception_weights",)),
    ],
)
def test_keep_best_that_cannot_work_is_one_config_error(preset, overrides, words):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_preset(preset, **{"keep_best": "modes", **overrides})
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_keep_best_accepts_each_metric_of_the_run():
    assert TrainConfig.from_preset("ring8-mlp", eval_every=5, keep_best="reverse_kl").keep_best
    assert TrainConfig.from_preset("mnist-dcgan", eval_every=5, keep_best="fid_digits").keep_best
    cifar = TrainConfig.from_preset(
        "cifar10-dcgan32", eval_every=5, keep_best="kid", inception_weights="w.pth"
    )
    assert cifar.keep_best == "kid"
    # turning metrics off live would leave keep_best without evaluations: refused with the reason
    with pytest.raises(ConfigError, match="eval_every"):
        cifar.replace(eval_every=0)


def test_start_without_evaluations_fails_in_one_line_and_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", "--headless", "--preset", "ring8-mlp", "--run-dir", str(run_dir)]
    code = main([*argv, "--set", "keep_best=modes", "--set", "eval_every=0", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "eval_every" in err[0], err
    assert not run_dir.exists()


def test_directions():
    assert is_better("modes", 8, 7) and not is_better("modes", 7, 7)
    assert is_better("fid_digits", 3.0, 4.0) and not is_better("reverse_kl", 0.5, 0.2)
    assert set(HIGHER_IS_BETTER) >= {"modes", "high_quality", "fid_digits", "fid", "kid"}


# -- real runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["high_quality", "reverse_kl"])
def test_the_best_evaluation_keeps_its_checkpoint_and_pruning_spares_it(tmp_path, metric):
    run_dir = tmp_path / metric
    events = run(run_dir, keep_best=metric, max_steps=60, checkpoint_every=20, keep_checkpoints=1)
    # an early reverse KL is inf (no sample near a mode): no best until a finite one
    scored = [(s, v) for s, v in evaluations(events, metric) if math.isfinite(v)]
    assert len(evaluations(events, metric)) == 6 and scored
    pick = max if HIGHER_IS_BETTER[metric] else min
    value = pick(v for _, v in scored)
    step = next(s for s, v in scored if v == value)  # a tie keeps the first
    best = read_best(run_dir)
    assert best is not None and (best.metric, best.value, best.step) == (metric, value, step)
    path = run_dir / "checkpoints" / best.checkpoint
    # it is a checkpoint of that step holding the scores of that evaluation
    payload = load_checkpoint(path)
    assert payload["step"] == step and payload["metrics"][metric] == value
    # saved for being best unless a periodic one holds that step
    assert best.checkpoint.endswith("-best.pt") == (step % 20 != 0)
    steps = {(c.step, c.reason) for c in list_checkpoints(run_dir)}
    # keep_checkpoints=1: the newest periodic, the final, the best — and no earlier best file
    assert {(60, "periodic"), (60, "final")} <= steps
    assert len(steps - {(60, "periodic"), (60, "final")}) == (0 if step == 60 else 1)
    assert best_checkpoint(run_dir) == path


def test_a_resumed_run_remembers_the_best_and_never_prunes_it(tmp_path):
    run_dir = tmp_path / "run"
    run(run_dir, keep_best="modes", max_steps=20, checkpoint_every=10, keep_checkpoints=1)
    first = read_best(run_dir)
    assert first is not None
    # Pretend the best so far is unbeatable (all 8 modes, at the first checkpoint): the resumed run
    # must measure against it rather than start afresh, and must keep its file through pruning.
    kept = list_checkpoints(run_dir)[0]
    write_best(run_dir, Best("modes", 8.0, kept.step, Path(kept.path).name))
    resumed = Trainer.from_checkpoint(
        run_dir / "checkpoints" / "step_00000020-final.pt", PlanRequest(max_steps=60)
    )
    events = train(resumed)
    assert len(evaluations(events, "modes")) == 4  # steps 30..60
    assert not [e for e in events if isinstance(e, ev.Alert) and "new best" in e.message]
    assert read_best(run_dir) == Best("modes", 8.0, kept.step, Path(kept.path).name)
    names = {Path(c.path).name for c in list_checkpoints(run_dir)}
    assert Path(kept.path).name in names and "step_00000060.pt" in names
    assert "step_00000030.pt" not in names  # pruned: keep_checkpoints=1 spares only the best


def test_best_flags_of_resume_sample_and_export_weights(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run(run_dir, keep_best="modes", max_steps=30, checkpoint_every=0)
    best = read_best(run_dir)
    assert best is not None
    path = best_checkpoint(run_dir)
    assert main(["sample", str(run_dir), "--best", "-n", "4", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    out = tmp_path / "weights"
    assert main(["export-weights", str(run_dir), "--best", "--out", str(out)]) == 0
    saved = torch.load(out / "generator.pth", weights_only=True)
    for name, tensor in load_checkpoint(path)["generator"].items():
        assert torch.equal(saved[name], tensor)
    capsys.readouterr()

    from tui_gan.cli.args import build_trainer
    from tui_gan.cli.main import make_parser

    args = make_parser().parse_args(["train", "--resume", str(run_dir), "--best", "--more", "5"])
    trainer = build_trainer(args)
    assert trainer.resume_from == path and trainer.config.max_steps == best.step + 5
    with pytest.raises(UsageError, match="with --resume"):
        build_trainer(make_parser().parse_args(["train", "--best"]))
    with pytest.raises(UsageError, match="not the file"):  # a checkpoint file has no "best"
        build_trainer(make_parser().parse_args(["train", "--resume", str(path), "--best"]))
    # --best needs a run that kept a best, whose file is still there
    (run_dir / "checkpoints" / "best.json").unlink()
    assert main(["sample", str(run_dir), "--best"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no best checkpoint" in err[0]
    write_best(run_dir, Best("modes", 3.0, 999, "step_00000999-best.pt"))
    with pytest.raises(CheckpointError, match="is gone"):
        best_checkpoint(run_dir)


def test_a_damaged_best_record_protects_nothing_and_breaks_nothing(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for text in ("", "{", json.dumps({"metric": "modes"}), json.dumps([1]), "\x00" * 10):
        (folder / "best.json").write_text(text)
        assert read_best(tmp_path) is None
    (folder / "best.json").write_text(
        json.dumps({"metric": "modes", "value": 1, "step": 1, "checkpoint": "../x.pt"})
    )
    assert read_best(tmp_path) is None  # a name outside checkpoints/ is refused


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_save_the_best_together(tmp_path):
    """Under torchrun only rank 0 evaluates, but every rank takes part in a checkpoint: rank 0
    tells them when a new best needs one (a rank left out would hang the run)."""
    from tests.runproc import tui_gan

    run_dir = tmp_path / "run"
    done = tui_gan(
        "train", "--nproc-per-node", "2", "--headless", "--preset", "ring8-mlp",
        "--set", "subset=1000", "--set", "batch_size=50", "--set", "sample_every=0",
        "--device", "cpu", "--max-steps", "30", "--set", "eval_every=5",
        "--set", "eval_samples=200", "--set", "keep_best=modes",
        "--set", "checkpoint_every=10", "--set", "keep_checkpoints=1",
        "--run-dir", run_dir, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    best = read_best(run_dir)
    assert best is not None and best.metric == "modes"
    payload = load_checkpoint(best_checkpoint(run_dir))
    assert payload["step"] == best.step and payload["world_size"] == 2
    assert len(payload["rank_rng"]) == 2  # both ranks' RNG states: both took part
