"""Checkpoint files: atomic writes under failure, safe loading, clear errors, fast listing, retention."""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import time
from pathlib import Path

import pytest
import torch

from core import checkpoints as ck
from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.errors import CheckpointError
from core.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(run_dir: Path, **changes) -> TrainConfig:
    values = {
        "width": 4,
        "batch_size": 8,
        "subset": 64,
        "device": "cpu",
        "sample_every": 0,
        "checkpoint_every": 0,
        "epochs": 100,
        "run_dir": str(run_dir),
    }
    return TrainConfig.from_preset("mnist-dcgan", **{**values, **changes})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run with periodic checkpoints at steps 2 and 4 and a final one at 4."""
    run = tmp_path_factory.mktemp("ckpt") / "run"
    trainer = Trainer(tiny(run, max_steps=4, checkpoint_every=2))
    assert trainer.run() == ev.FINISHED, trainer.error
    return run


@pytest.fixture
def run_copy(trained: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(trained, tmp_path / "run"))


def payload_of(run: Path) -> dict:
    return ck.load_checkpoint(ck.latest_checkpoint(run))


# -- contents ------------------------------------------------------------------------------------


def test_checkpoint_holds_only_plain_data_and_everything_resume_needs(trained: Path) -> None:
    payload = payload_of(trained)

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, (str, int)) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (torch.Tensor, int, float, str, bool))

    assert plain(payload)
    for key in (
        "generator",
        "discriminator",
        "opt_g",
        "opt_d",
        "config",
        "step",
        "epoch",
        "batch",
        "fixed_noise",
        "rng",
        "losses",
        "version",
    ):
        assert key in payload, key
    assert set(payload["rng"]) >= {"torch", "numpy", "python", "cuda"}
    assert payload["version"] == ck.FORMAT_VERSION and payload["step"] == 4


def test_listing_reads_sidecars_and_orders_by_step(trained: Path) -> None:
    infos = ck.list_checkpoints(trained)
    assert [(c.step, c.reason) for c in infos] == [(2, "periodic"), (4, "periodic"), (4, "final")]
    assert all(c.readable and c.size == Path(c.path).stat().st_size for c in infos)
    assert all(c.loss_d is not None and c.loss_g is not None for c in infos)


# -- atomic writes -------------------------------------------------------------------------------


def failing_fsync(monkeypatch, fail_at: int) -> list[int]:
    """Make the `fail_at`-th os.fsync call fail as a full disk would."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


# fsync calls of one save: 1 = sidecar file, 2 = its folder, 3 = checkpoint file, 4 = its folder.
@pytest.mark.parametrize("fail_at", [1, 3], ids=["sidecar-write", "checkpoint-write"])
def test_failed_write_leaves_earlier_checkpoints_whole_and_no_new_one(
    run_copy: Path, monkeypatch, fail_at: int
) -> None:
    folder = run_copy / "checkpoints"
    before = {p.name: digest(p) for p in folder.iterdir()}
    listed = ck.list_checkpoints(run_copy)
    payload = payload_of(run_copy) | {"step": 6}
    failing_fsync(monkeypatch, fail_at)
    with pytest.raises(OSError, match="No space"):
        ck.save_checkpoint(run_copy, payload, "periodic")
    monkeypatch.undo()
    assert {
        p.name: digest(p) for p in folder.iterdir()
    } == before  # no temp file, no orphan sidecar
    assert ck.list_checkpoints(run_copy) == listed
    for info in listed:
        ck.load_checkpoint(info.path)


def test_failed_rewrite_of_the_same_name_keeps_the_old_checkpoint_listed(
    run_copy: Path, monkeypatch
) -> None:
    payload = payload_of(run_copy) | {"step": 9}
    path = ck.save_checkpoint(run_copy, payload, "manual")
    info = [c for c in ck.list_checkpoints(run_copy) if c.path == str(path)]
    failing_fsync(monkeypatch, 3)
    with pytest.raises(OSError):
        ck.save_checkpoint(run_copy, payload | {"losses": {"loss_d": 9.0}}, "manual")
    monkeypatch.undo()
    assert [c for c in ck.list_checkpoints(run_copy) if c.path == str(path)] == info
    assert info[0].readable


def test_a_kill_mid_write_leaves_nothing_that_lists_as_a_checkpoint(run_copy: Path) -> None:
    folder = run_copy / "checkpoints"
    listed = ck.list_checkpoints(run_copy)
    good = Path(listed[-1].path).read_bytes()
    # What a kill leaves: a half temp file (never renamed) and, at worst, an orphan sidecar.
    (folder / ".step_00000008.pt.x1y2.tmp").write_bytes(good[: len(good) // 2])
    (folder / "step_00000008.meta.json").write_text('{"step": 8}')
    assert ck.list_checkpoints(run_copy) == listed
    ck.remove_stale_temps(run_copy)
    assert not list(folder.glob(".*.tmp"))


def test_trainer_pauses_on_a_failed_write_and_a_resume_writes_it(
    tmp_path: Path, monkeypatch
) -> None:
    real = ck.atomic_write
    failed: list[Path] = []

    def disk_full_once_at_step_4(path: Path, data: bytes) -> None:
        if "step_00000004" in Path(path).name and not failed:
            failed.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ck, "atomic_write", disk_full_once_at_step_4)
    trainer = Trainer(tiny(tmp_path / "run", max_steps=6, checkpoint_every=2))
    seen: list[ev.Event] = []
    trainer.subscribe(seen.append)
    first_digest: list[str] = []
    trainer.subscribe(
        lambda e: (
            first_digest.append(digest(Path(e.path)))
            if isinstance(e, ev.CheckpointSaved) and e.step == 2
            else None
        )
    )
    trainer.subscribe(
        lambda e: (
            trainer.send(cmd.Resume())
            if isinstance(e, ev.StateChanged) and e.state == ev.PAUSED
            else None
        )
    )
    assert trainer.run() == ev.FINISHED and trainer.step == 6
    alerts = [e for e in seen if isinstance(e, ev.Alert) and e.level == "error"]
    assert (
        len(alerts) == 1
        and "paused at step 4" in alerts[0].message
        and "No space" in alerts[0].message
    )
    assert "MB (the size of a checkpoint)" in alerts[0].message
    infos = ck.list_checkpoints(tmp_path / "run")
    assert [(c.step, c.reason) for c in infos] == [
        (2, "periodic"),
        (4, "periodic"),
        (6, "periodic"),
        (6, "final"),
    ]
    assert digest(Path(infos[0].path)) == first_digest[0]
    assert all(c.readable for c in infos)


# -- safe loading and clear errors ---------------------------------------------------------------


class RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("layout", ["torch-zip", "raw-pickle", "torch-legacy"])
def test_a_pickle_that_would_run_code_is_refused_and_never_runs(
    tmp_path: Path, layout: str
) -> None:
    marker, path = tmp_path / "MARKER", tmp_path / "evil.pt"
    evil = {"format": ck.FORMAT, "version": 1, "step": 1, "x": RunsCode(marker)}
    if layout == "torch-zip":
        torch.save(evil, path)
    elif layout == "raw-pickle":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    else:
        torch.save(evil, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError) as info:
        ck.load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    if layout == "torch-zip":
        assert "refused" in message and "system" in message
    assert not marker.exists()


def test_the_payload_check_runs_even_for_a_zip_with_a_safe_but_foreign_dict(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a tui-gan checkpoint"):
        ck.load_checkpoint(path)


def _bad_file(kind: str, tmp_path: Path, good: bytes, payload: dict) -> tuple[Path, str]:
    path = tmp_path / f"{kind}.pt"
    if kind == "truncated":
        path.write_bytes(good[: len(good) * 2 // 3])
        return path, "truncated or corrupted"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
        return path, "not a tui-gan checkpoint"
    if kind == "random-zip-head":
        path.write_bytes(b"PK\x03\x04" + os.urandom(4096))
        return path, "truncated or corrupted"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "empty file"
    if kind == "newer":
        torch.save(payload | {"version": ck.FORMAT_VERSION + 1}, path)
        return path, "newer than this tui-gan reads"
    if kind == "damaged":
        torch.save({k: v for k, v in payload.items() if k != "generator"}, path)
        return path, "missing generator"
    if kind == "missing":
        return path, "no such checkpoint file"
    path.mkdir()
    return path, "is a directory"


@pytest.mark.parametrize(
    "kind",
    ["truncated", "random", "random-zip-head", "empty", "newer", "damaged", "missing", "directory"],
)
def test_unusable_files_give_one_clear_line_naming_the_file(
    trained: Path, tmp_path: Path, kind: str
) -> None:
    latest = ck.latest_checkpoint(trained)
    path, expected = _bad_file(kind, tmp_path, latest.read_bytes(), ck.load_checkpoint(latest))
    with pytest.raises(CheckpointError) as info:
        ck.load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message
    assert len(message) < 300


def _crafted(payload: dict, case: str) -> dict:
    """A payload that passes the format and version checks but is wrong inside."""
    crafted = dict(payload)
    if case == "step-string":
        crafted["step"] = "abc"
    elif case == "no-rng":
        del crafted["rng"]
    elif case == "version-string":
        crafted["version"] = "1"
    elif case == "bad-config":
        crafted["config"] = {**payload["config"], "width": -3}
    elif case == "unknown-config-key":
        crafted["config"] = {**payload["config"], "nonsense": 1}
    elif case == "rng-inside":
        crafted["rng"] = {**payload["rng"], "python": {**payload["rng"]["python"], "state": "x"}}
    elif case == "generator-not-tensors":
        crafted["generator"] = {"main.0.weight": [1.0, 2.0]}
    elif case == "negative-epoch":
        crafted["epoch"] = -1
    elif case == "world-without-ranks":
        crafted["world_size"] = 2
    return crafted


CRAFTED = {
    "step-string": "field step is str, expected a whole number",
    "no-rng": "missing rng",
    "version-string": "field version is str, expected int",
    "bad-config": "its config cannot be used (width",
    "unknown-config-key": "its config cannot be used (unknown config key 'nonsense'",
    "rng-inside": "field rng.python.state is str, expected a list",
    "generator-not-tensors": "field generator.main.0.weight is list, expected Tensor",
    "negative-epoch": "field epoch is int, expected a whole number ≥ 0",
    "world-without-ranks": "rank_rng does not hold the RNG state of each of its 2 processes",
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_payload_is_refused_on_load_naming_file_and_field(
    trained: Path, tmp_path: Path, case: str
) -> None:
    path = tmp_path / f"{case}.pt"
    torch.save(_crafted(payload_of(trained), case), path)
    with pytest.raises(CheckpointError) as info:
        ck.load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and CRAFTED[case] in message and "\n" not in message, (
        message
    )


def test_a_truncated_checkpoint_lists_as_unreadable_and_is_skipped_as_newest(
    run_copy: Path,
) -> None:
    newest = ck.latest_checkpoint(run_copy)
    newest.write_bytes(newest.read_bytes()[:100])
    info = next(c for c in ck.list_checkpoints(run_copy) if c.path == str(newest))
    assert not info.readable and "differs" in info.problem
    assert ck.latest_checkpoint(run_copy) != newest
    assert ck.resolve_checkpoint(run_copy) == ck.latest_checkpoint(run_copy)
    (run_copy / "checkpoints" / "foreign.pt").write_bytes(b"x")
    foreign = next(c for c in ck.list_checkpoints(run_copy) if c.path.endswith("foreign.pt"))
    assert not foreign.readable and "no metadata" in foreign.problem


@pytest.mark.parametrize(
    ("sidecar", "problem"),
    [
        (
            '{"step": 4, "epoch": 1, "time": 1e999, "reason": "final", "size": SIZE}',
            "no time a clock gave",
        ),
        (
            '{"step": 1e999, "epoch": 1, "time": 1.0, "reason": "final", "size": SIZE}',
            "cannot convert float infinity",
        ),
        (
            '{"step": 4, "epoch": 1, "time": 1.0, "reason": "final", "size": SIZE, "loss_d": "x"}',
            "'x' is not a number",
        ),
        ("[1, 2]", "not a JSON object"),
        ("[" * 100_000, "unreadable"),
        ("FIFO", "not a regular file"),
    ],
)
def test_a_damaged_sidecar_lists_as_unreadable_and_never_blocks(
    run_copy: Path, sidecar: str, problem: str
) -> None:
    newest = ck.latest_checkpoint(run_copy)
    meta = ck.meta_path(newest)
    meta.unlink()
    if sidecar == "FIFO":
        os.mkfifo(meta)
    else:
        meta.write_text(sidecar.replace("SIZE", str(newest.stat().st_size)))
    info = next(c for c in ck.list_checkpoints(run_copy) if c.path == str(newest))
    assert not info.readable and problem in info.problem, info.problem
    os.unlink(newest)
    os.mkfifo(newest)
    with pytest.raises(CheckpointError, match="not a regular file"):
        ck.load_checkpoint(newest)


def _damage_keeping_size(path: Path) -> None:
    """Zero the zip's central directory: the sidecar still matches, the file no longer loads."""
    data = bytearray(path.read_bytes())
    data[-200:] = bytes(200)
    path.write_bytes(bytes(data))


def test_resolve_falls_back_to_the_newest_checkpoint_that_loads(run_copy: Path) -> None:
    newest = ck.latest_checkpoint(run_copy)
    _damage_keeping_size(newest)
    notes: list[str] = []
    chosen = ck.resolve_checkpoint(run_copy, on_skip=notes.append)
    assert chosen != newest and ck.load_checkpoint(chosen)["step"] == 4
    assert len(notes) == 1 and str(newest) in notes[0] and "truncated or corrupted" in notes[0]
    for info in ck.list_checkpoints(run_copy):
        _damage_keeping_size(Path(info.path))
    with pytest.raises(
        CheckpointError, match="no checkpoint that loads; the newest: .*step_00000004-final"
    ):
        ck.resolve_checkpoint(run_copy)


def test_resume_of_a_run_whose_newest_checkpoint_is_damaged_continues_with_a_note(
    run_copy: Path, capsys
) -> None:
    from tui_gan.cli.main import main

    newest = ck.latest_checkpoint(run_copy)
    _damage_keeping_size(newest)
    assert main(["train", "--headless", "--resume", str(run_copy), "--max-steps", "6"]) == 0
    err = capsys.readouterr().err
    assert f"tui-gan: skipped {newest}: truncated or corrupted" in err, err
    assert ck.load_checkpoint(ck.latest_checkpoint(run_copy))["step"] == 6


# -- listing speed and retention -----------------------------------------------------------------


def test_listing_100_checkpoints_is_fast(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # only the listing is timed
    small = {
        "config": {},
        "generator": {},
        "discriminator": {},
        "epoch": 1,
        "weights": torch.zeros(256),
        "losses": {"loss_d": 0.5, "loss_g": 1.5},
    }
    for step in range(100, 0, -1):
        ck.save_checkpoint(tmp_path, small | {"step": step}, "periodic")
    started = time.perf_counter()
    infos = ck.list_checkpoints(tmp_path)
    elapsed = time.perf_counter() - started
    assert [c.step for c in infos] == list(range(1, 101))
    assert all(c.readable and c.loss_g == 1.5 for c in infos)
    assert elapsed < 0.25, f"listing took {elapsed:.3f} s"


def test_prune_keeps_newest_periodic_and_never_hand_made(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    small = {"config": {}, "generator": {}, "discriminator": {}, "epoch": 1}
    for step in range(1, 7):
        ck.save_checkpoint(tmp_path, small | {"step": step}, "periodic")
    for step, reason in ((2, "manual"), (3, "stop"), (6, "final")):
        ck.save_checkpoint(tmp_path, small | {"step": step}, reason)
    gone = ck.prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in gone) == [f"step_0000000{i}.pt" for i in range(1, 5)]
    assert [(c.step, c.reason) for c in ck.list_checkpoints(tmp_path)] == [
        (2, "manual"),
        (3, "stop"),
        (5, "periodic"),
        (6, "periodic"),
        (6, "final"),
    ]
    assert (
        len(list((tmp_path / "checkpoints").glob("*.meta.json"))) == 5
    )  # sidecars went with their files


def test_trainer_retention_keeps_manual_checkpoints(tmp_path: Path) -> None:
    trainer = Trainer(tiny(tmp_path / "run", max_steps=5, checkpoint_every=1, keep_checkpoints=2))
    trainer.send(cmd.SaveCheckpoint())  # handled at the first step boundary, before step 1
    assert trainer.run() == ev.FINISHED
    assert [(c.step, c.reason) for c in ck.list_checkpoints(tmp_path / "run")] == [
        (0, "manual"),
        (4, "periodic"),
        (5, "periodic"),
        (5, "final"),
    ]


def test_atomically_written_files_get_the_usual_mode_not_mkstemps_0600(tmp_path):
    from core.rundir import atomic_write

    atomic_write(tmp_path / "grid.png", b"data")
    (tmp_path / "plain.png").write_bytes(b"data")
    assert (tmp_path / "grid.png").stat().st_mode & 0o777 == (
        tmp_path / "plain.png"
    ).stat().st_mode & 0o777
