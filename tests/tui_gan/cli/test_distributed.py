"""Data-parallel training on the CPU: 2 processes over gloo, launched by torchrun as a user would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core import events as ev
from core.checkpoints import load_checkpoint
from core.data import TensorSource, ToySource
from core.rundir import lock_held, read_status
from core.trainer import Trainer
from tests.runproc import ENV, ROOT, TINY, events, last_step, read_jsonl, tui_gan, wait_for

pytestmark = pytest.mark.timeout(180)

SHORT = [a for a in TINY if a not in ("--epochs", "100000")] + [
    "--set",
    "label_noise=0.1",
]  # noise draws RNG
# Run as a module from ROOT: as a script, its folder tests/ would come first on sys.path, and
# tests/core and tests/tui_gan would hide the real packages.
WORKER = ["--module", "tests.distributed_worker"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_events(out: Path, rank: int, kind: str | None = None) -> list[dict]:
    """What rank `rank`'s own trainer emitted (tests/distributed_worker.py logs it)."""
    return [e for e in read_jsonl(out / f"rank{rank}.jsonl") if kind is None or e["kind"] == kind]


def states(out: Path, rank: int) -> list[tuple[str, int]]:
    return [(e["state"], e["step"]) for e in rank_events(out, rank, "state_changed")]


def ctl(run_dir: Path, *args: str) -> str:
    done = tui_gan("ctl", run_dir, *args, timeout=90)
    assert done.returncode == 0, done.stderr
    return done.stdout


def parameters(state: dict) -> dict[str, torch.Tensor]:
    """Weights only: BatchNorm's running statistics are each rank's own (only rank 0's are saved)."""
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


def assert_equal_states(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


def optimizer_tensors(state: dict) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()}


# -- data shards -------------------------------------------------------------------------------


def test_each_rank_sees_its_own_shard_of_every_epoch() -> None:
    images = torch.arange(42, dtype=torch.uint8).view(42, 1, 1, 1)
    whole = TensorSource(images, 4, seed=3, channels_last=False)
    shards = [TensorSource(images, 4, 3, False, rank=r, world=2) for r in (0, 1)]
    assert whole.steps_per_epoch == 10 and [s.steps_per_epoch for s in shards] == [5, 5]
    for epoch in (0, 1):
        seen = [torch.cat(list(s.batches(epoch))).flatten().tolist() for s in shards]
        assert not set(seen[0]) & set(seen[1])  # disjoint, 40 of the 42 images between them
        everything = set(torch.cat(list(whole.batches(epoch))).flatten().tolist())
        assert len(set(seen[0]) | set(seen[1])) == 40 and len(everything) == 40
        again = torch.cat(
            list(TensorSource(images, 4, 3, False, rank=1, world=2).batches(epoch, 2))
        )
        assert again.flatten().tolist() == seen[1][8:]  # resumes mid-epoch on its shard
    toys = [
        next(ToySource("ring8", 64, 8, 0, torch.device("cpu"), rank=r, world=2).batches(0))
        for r in (0, 1)
    ]
    assert not torch.equal(*toys)
    assert torch.equal(
        next(ToySource("ring8", 64, 8, 0, torch.device("cpu")).batches(0)),
        next(ToySource("ring8", 64, 8, 0, torch.device("cpu"), rank=0, world=1).batches(0)),
    )


# -- two ranks under control -------------------------------------------------------------------


@pytest.mark.slow
def test_two_ranks_take_every_command_at_the_same_step_and_stay_bit_identical(
    tmp_path: Path,
) -> None:
    """torchrun run by hand: ctl pause, set, resume, watch's RemoteSession, then stop."""
    from tui_gan.app.remote import RemoteSession

    run_dir, out = tmp_path / "run", tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(free_port()),
        *WORKER,
        str(out),
        *TINY,
        "--run-dir",
        str(run_dir),
        # R1's double backward must all-reduce like any other gradient, and the spectral
        # norm's power-iteration vectors must stay the same on both ranks.
        "--set",
        "r1_gamma=1",
        "--set",
        "spectral_norm=true",
    ]
    with open(tmp_path / "torchrun.log", "w") as log:
        proc = subprocess.Popen(argv, env=ENV, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: last_step(run_dir) >= 3, 120, "both ranks to train")

        held = int(ctl(run_dir, "pause").split()[-1])
        for rank in (0, 1):
            wait_for(lambda r=rank: ("paused", held) in states(out, r), 20, f"rank {rank} to pause")
        time.sleep(1.0)  # while paused the ranks exchange heartbeats, not steps
        assert [rank_events(out, r, "step")[-1]["step"] for r in (0, 1)] == [held, held]

        assert "lr_g=0.0005" in ctl(run_dir, "set", "lr_g=0.0005")
        for rank in (0, 1):
            wait_for(
                lambda r=rank: rank_events(out, r, "hparams_changed"), 20, f"rank {rank}'s change"
            )
            assert [
                (e["changes"], e["step"]) for e in rank_events(out, rank, "hparams_changed")
            ] == [({"lr_g": 0.0005}, held)]
        assert ctl(run_dir, "resume").startswith("running")

        session = RemoteSession(run_dir)  # what `tui-gan watch` attaches with
        try:
            assert session.live.wait(20)
            seen = session.events()
            started = [e for e in seen if isinstance(e, ev.RunStarted)]
            assert len(started) == 1 and started[0].world_size == 2
            wait_for(
                lambda: any(
                    isinstance(e, ev.StepMetrics) and e.step > held + 2 for e in session.events()
                ),
                30,
                "live steps through the control socket",
            )
        finally:
            session.close()

        stopped = ctl(run_dir, "stop")
        assert stopped.startswith("stopped at step") and "-stop.pt" in stopped
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    end = int(stopped.split()[3].rstrip(";"))
    for rank in (0, 1):
        assert states(out, rank)[-1] == ("stopped", end)
    steps = [
        [(e["step"], e["loss_d"], e["loss_g"], e["lr_g"]) for e in rank_events(out, r, "step")]
        for r in (0, 1)
    ]
    assert steps[0] == steps[1]  # the same (all-reduced) losses, the lr change at the same step
    assert [lr for step, *_, lr in steps[0] if step > held] and all(
        lr == (0.0005 if step > held else 2e-4) for step, *_, lr in steps[0]
    )

    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name in ("g", "d"):
        assert_equal_states(parameters(ranks[0][name]), parameters(ranks[1][name]))
    for name in ("opt_g", "opt_d"):
        assert_equal_states(optimizer_tensors(ranks[0][name]), optimizer_tensors(ranks[1][name]))

    # rank 0 alone wrote the run directory: one history, one checkpoint
    logged = events(run_dir)
    assert [e["world_size"] for e in logged if e["kind"] == "run_started"] == [2]
    numbers = [e["step"] for e in logged if e["kind"] == "step"]
    assert numbers == list(range(1, end + 1))
    checkpoints = sorted((run_dir / "checkpoints").glob("*.pt"))
    assert [c.name for c in checkpoints] == [f"step_{end:08d}-stop.pt"]
    payload = load_checkpoint(checkpoints[0])
    assert payload["world_size"] == 2 and len(payload["rank_rng"]) == 2
    assert_equal_states(payload["generator"], ranks[0]["g"])


# -- resume ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_two_process_run_resumes_exactly_and_onto_one_process_with_a_warning(
    tmp_path: Path,
) -> None:
    straight = tui_gan(
        "train",
        "--nproc-per-node",
        "2",
        "--headless",
        *SHORT,
        "--max-steps",
        "8",
        "--set",
        "checkpoint_every=4",
        "--set",
        "g_ema=0.9",
        "--run-dir",
        tmp_path / "a",
        timeout=150,
    )
    assert straight.returncode == 0, straight.stderr
    half = tmp_path / "a" / "checkpoints" / "step_00000004.pt"
    resumed = tui_gan(
        "train",
        "--nproc-per-node",
        "2",
        "--headless",
        "--resume",
        half,
        "--max-steps",
        "8",
        "--run-dir",
        tmp_path / "b",
        timeout=150,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = (load_checkpoint(tmp_path / d / "checkpoints" / "step_00000008-final.pt") for d in "ab")
    for name in ("generator", "discriminator", "generator_ema"):
        assert_equal_states(a[name], b[name])
    for name in ("opt_g", "opt_d"):
        assert_equal_states(optimizer_tensors(a[name]), optimizer_tensors(b[name]))
    for ra, rb in zip(a["rank_rng"], b["rank_rng"]):
        assert torch.equal(ra["torch"], rb["torch"])
    assert not torch.equal(
        a["rank_rng"][0]["torch"], a["rank_rng"][1]["torch"]
    )  # a noise stream each

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer.from_checkpoint(half, run_dir=str(tmp_path / "c"), max_steps=6)
        trainer.serve_control = False
        seen: list[ev.Event] = []
        trainer.subscribe(seen.append)
        assert trainer.run() == ev.FINISHED, trainer.error
    finally:
        torch.set_num_threads(previous)
    assert [e.world_size for e in seen if isinstance(e, ev.RunStarted)] == [1]
    warnings = [e.message for e in seen if isinstance(e, ev.Alert) and e.level == "warning"]
    assert any("2-process checkpoint" in m and "not exactly" in m for m in warnings), warnings


# -- a rank that dies --------------------------------------------------------------------------


def rank_pid(run_dir: Path, rank: int | None) -> int | None:
    """The pid of the worker process of `rank` training in `run_dir` (None: of the launcher)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(run_dir).encode() not in cmdline:
            continue
        if (f"RANK={rank}".encode() in env) if rank is not None else b"--nproc-per-node" in cmdline:
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_rank_fails_the_run_naming_it(tmp_path: Path, victim: int) -> None:
    """rank 1: rank 0 notices and names it; rank 0: the launcher (torchrun's agent) names it."""
    run_dir = (tmp_path / "run").resolve()
    started = tui_gan(
        "train", "--nproc-per-node", "2", "--detach", *TINY, "--run-dir", run_dir, timeout=150
    )
    assert started.returncode == 0, started.stderr
    pids = [
        wait_for(lambda r=r: rank_pid(run_dir, r), 30, f"rank {r}'s process") for r in (0, 1, None)
    ]
    try:
        wait_for(lambda: last_step(run_dir) >= 2, 60, "training")
        os.kill(pids[victim], signal.SIGKILL)
        status = wait_for(
            lambda: (read_status(run_dir) or {}).get("state") == "failed" and read_status(run_dir),
            60,
            "a failed status",
        )
        assert f"rank {victim}" in status["error"] and (
            "died" in status["error"] or "SIGKILL" in status["error"]
        )
        wait_for(
            lambda: (
                not lock_held(run_dir) and all(rank_pid(run_dir, r) is None for r in (0, 1, None))
            ),
            60,
            "every rank and the launcher to end",
        )
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    failed = [e for e in events(run_dir) if e["kind"] == "run_failed"]
    assert failed and f"rank {victim}" in failed[-1]["message"]
    log = (run_dir / "train.log").read_text()
    assert not re.search(r"^\[?[EW]\d{4} ", log, re.M), log  # torch's own log lines beside ours


# -- evaluation ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_evaluation_longer_than_the_collective_timeout_never_times_the_run_out(
    tmp_path: Path,
) -> None:
    """Rank 0 trains the digit classifier (a fresh cache) while rank 1 waits, past a 10 s timeout."""
    import subprocess

    from tests.runproc import tui_gan_argv

    env = {**ENV, "TUI_GAN_COLLECTIVE_TIMEOUT": "10", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        tui_gan_argv(
            "train",
            "--nproc-per-node",
            "2",
            "--headless",
            *SHORT,
            "--max-steps",
            "4",
            "--set",
            "eval_every=2",
            "--set",
            "eval_samples=100",
            "--run-dir",
            tmp_path / "run",
        ),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = [e for e in read_jsonl(tmp_path / "run" / "events.jsonl") if e["kind"] == "metrics"]
    assert [m["step"] for m in metrics] == [2, 4]
    assert metrics[0]["seconds"] > 10  # the wait did outlast the collective timeout
