"""Image folders: the decoded-image cache, streaming from disk (the same batches as preloading, exact
resume), unreadable files skipped with one alert, progress events, and `tui-gan cache`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import cachedir, foldercache, images
from core import events as ev
from core.checkpoints import latest_checkpoint
from core.config import TrainConfig
from core.data import StreamSource, TensorSource, load_source
from core.errors import DataError
from core.rundir import read_events
from core.trainer import Trainer

CPU = torch.device("cpu")


def make_folder(root: Path, n: int = 40, broken: int = 0) -> Path:
    """`n` random colour PNGs of mixed sizes (in a sub-folder too) and `broken` unreadable files."""
    rng = np.random.default_rng(1)
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = (12, 10, 3) if i % 2 else (10, 14, 3)
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(arr).save(root / ("sub" if i % 5 == 0 else ".") / f"img{i:03d}.png")
    for i in range(broken):
        (root / f"broken{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def config(root: Path, **changes) -> TrainConfig:
    values = {
        "dataset": "folder",
        "data_root": str(root),
        "image_size": 8,
        "channels": 3,
        "batch_size": 4,
        "device": "cpu",
        "data_workers": 0,
        "seed": 5,
    }
    return TrainConfig.from_preset("mnist-dcgan", **{**values, **changes})


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The files decoded in this process (the folder tests decode here: data_workers=0)."""
    seen: list[str] = []
    real = images.decode

    def counting(path, size, channels):
        seen.append(str(path))
        return real(path, size, channels)

    monkeypatch.setattr(images, "decode", counting)
    return seen


def cache_files() -> list[Path]:
    return sorted(foldercache.folders_dir().iterdir())


# -- the cache ----------------------------------------------------------------------------------


def test_a_second_start_reads_the_cache_and_decodes_nothing(tmp_path, decodes):
    root = make_folder(tmp_path / "pics")
    first = load_source(config(root), CPU)
    assert isinstance(first, TensorSource) and len(decodes) == 40 and not first.alerts
    assert [p.suffix for p in cache_files()] == [".bin"]  # one entry, no temporary file left
    decodes.clear()
    second = load_source(config(root), CPU)
    assert decodes == [] and not second.alerts
    assert torch.equal(first.images, second.images)
    # another shape is another entry
    load_source(config(root, image_size=16, channels=1), CPU)
    assert len(decodes) == 40 and len(cache_files()) == 2


def test_a_changed_file_makes_the_cache_stale_and_it_is_rebuilt(tmp_path, decodes):
    root = make_folder(tmp_path / "pics")
    before = load_source(config(root), CPU).images.clone()
    target = root / "img001.png"
    Image.new("RGB", (8, 8), (255, 255, 255)).save(target)
    os.utime(target, ns=(1, 1))  # an old time: only the size and time in the key catch it
    decodes.clear()
    after = load_source(config(root), CPU)
    assert len(decodes) == 40
    assert [level for level, _ in after.alerts] == ["info"]
    assert "stale" in after.alerts[0][1] and str(root) in after.alerts[0][1]
    changed = (after.images != before).flatten(1).any(1)
    assert changed.sum() == 1 and (after.images[changed] == 255).all()
    decodes.clear()
    assert not load_source(config(root), CPU).alerts and decodes == []  # rebuilt: current again


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda data: data[:-10], "bytes, the header says"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), "CRC-32"),
        (lambda data: b"garbage" + data[7:], "not a tui-gan image cache"),
        (lambda data: data[:12] + b"X" + data[13:], "unreadable header"),
    ],
)
def test_a_damaged_cache_is_rebuilt_with_a_note(tmp_path, decodes, damage, says):
    root = make_folder(tmp_path / "pics")
    good = load_source(config(root), CPU).images.clone()
    (entry,) = cache_files()
    entry.write_bytes(damage(entry.read_bytes()))
    decodes.clear()
    again = load_source(config(root), CPU)
    assert len(decodes) == 40 and torch.equal(again.images, good)
    ((level, message),) = again.alerts
    assert level == "info" and "damaged" in message and says in message, message
    assert not load_source(config(root), CPU).alerts


def test_an_unwritable_cache_costs_a_note_not_the_run(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pics")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setattr(foldercache, "cache_dir", lambda: blocker)
    source = load_source(config(root), CPU)
    assert len(source.images) == 40
    assert any("cannot write the image cache" in m for _, m in source.alerts)


def test_the_cache_lives_under_xdg_and_the_cli_lists_and_clears_it(tmp_path, monkeypatch, capsys):
    from tui_gan.cli.main import main

    monkeypatch.setattr(foldercache, "cache_dir", cachedir.cache_dir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = make_folder(tmp_path / "pics", n=12, broken=1)
    load_source(config(root), CPU)
    (entry,) = (tmp_path / "xdg" / "tui-gan" / "folders").iterdir()
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(root) in out and "12 (1 unreadable)" in out and "3×8²" in out
    (entry.parent / "0123.bin").write_bytes(b"half a file")  # listed as damaged, not a crash
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "0123.bin (damaged: not a tui-gan image cache)" in out and "2 entries" in out
    assert main(["cache", "clear"]) == 0
    assert "removed 2 cached folder(s)" in capsys.readouterr().out and not entry.exists()
    assert main(["cache"]) == 0
    assert "no cached image folders" in capsys.readouterr().out
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # unset: ~/.cache
    assert foldercache.folders_dir() == Path.home() / ".cache" / "tui-gan" / "folders"


# -- unreadable files ---------------------------------------------------------------------------


def test_unreadable_files_are_skipped_with_one_alert(tmp_path):
    root = make_folder(tmp_path / "pics", n=12, broken=5)
    source = load_source(config(root), CPU)
    assert len(source.images) == 12
    ((level, message),) = source.alerts
    assert level == "warning" and "5 of 17 image files cannot be read" in message
    assert "broken0.jpg" in message and "and 2 more" in message and "\n" not in message
    cached = load_source(config(root), CPU)  # the cache remembers them: said again
    assert cached.alerts == source.alerts


def test_a_folder_with_no_readable_image_fails_with_one_line(tmp_path):
    root = tmp_path / "pics"
    root.mkdir()
    (root / "a.png").write_bytes(b"not a png")
    (root / "b.gif").write_bytes(b"GIF89a")
    with pytest.raises(DataError) as info:
        load_source(config(root), CPU)
    message = str(info.value)
    assert "none of the 2 image files" in message and "a.png" in message and "\n" not in message


# -- streaming ----------------------------------------------------------------------------------


def batches(source, epoch: int, start: int = 0) -> list[torch.Tensor]:
    return list(source.batches(epoch, start))


@pytest.mark.parametrize(("rank", "world"), [(0, 1), (1, 2)])
def test_streaming_gives_the_batches_preloading_gives(tmp_path, rank, world):
    root = make_folder(tmp_path / "pics", n=40, broken=2)
    preloaded = load_source(config(root), CPU, True, rank, world)
    streamed = load_source(config(root, preload_gb=0), CPU, True, rank, world)
    assert isinstance(preloaded, TensorSource) and isinstance(streamed, StreamSource)
    assert "preload_gb=0" in streamed.note and "streams from disk" in streamed.note
    assert streamed.steps_per_epoch == preloaded.steps_per_epoch == 40 // world // 4
    assert streamed.alerts == preloaded.alerts  # the same unreadable files, said the same way
    for epoch, start in ((0, 0), (1, 0), (1, 3), (2, 1)):
        a, b = batches(preloaded, epoch, start), batches(streamed, epoch, start)
        assert len(a) == len(b) == preloaded.steps_per_epoch - start
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y) and y.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(batches(streamed, 0)[0], batches(streamed, 1)[0])


def test_a_folder_too_large_for_the_device_streams(tmp_path, monkeypatch):
    import core.data

    root = make_folder(tmp_path / "pics", n=16)
    monkeypatch.setattr(core.data, "free_memory", lambda device: 16 * 3 * 8 * 8)
    streamed = load_source(config(root), CPU)
    assert isinstance(streamed, StreamSource) and "free memory" in streamed.note
    monkeypatch.setattr(core.data, "free_memory", lambda device: 10 * 16 * 3 * 8 * 8)
    assert isinstance(load_source(config(root), CPU), TensorSource)


def test_a_streamed_file_that_breaks_later_is_one_line(tmp_path):
    root = make_folder(tmp_path / "pics", n=8)
    streamed = load_source(config(root, preload_gb=0), CPU)
    for path in root.rglob("*.png"):
        path.write_bytes(b"gone bad")
    with pytest.raises(DataError) as info:
        batches(streamed, 0)
    message = str(info.value)
    assert "changed since the run started" in message and "\n" not in message


@pytest.mark.slow
def test_streaming_with_worker_processes_matches_preloading(tmp_path):
    root = make_folder(tmp_path / "pics", n=40)
    preloaded = load_source(config(root), CPU)
    streamed = load_source(config(root, preload_gb=0, data_workers=2), CPU)
    assert isinstance(streamed, StreamSource) and streamed.workers == 2
    assert "2 worker processes" in streamed.note
    for epoch, start in ((0, 0), (1, 4), (2, 0)):  # the same workers serve every epoch
        for x, y in zip(
            batches(preloaded, epoch, start), batches(streamed, epoch, start), strict=True
        ):
            assert torch.equal(x, y)
    for path in root.rglob("*.png"):
        path.write_bytes(b"gone bad")
    with pytest.raises(DataError) as info:  # raised in a worker, said in one line here
        batches(streamed, 3)
    message = str(info.value)
    assert message.startswith("folder: cannot read image ") and "\n" not in message, message


def tiny(root: Path, run_dir: Path, **changes) -> TrainConfig:
    return config(
        root,
        width=4,
        batch_size=4,
        epochs=100,
        sample_every=0,
        checkpoint_every=0,
        n_samples=4,
        lr_decay="none",
        log_every="1",
        run_dir=str(run_dir),
        **changes,
    )


@pytest.mark.slow
def test_a_streamed_run_resumes_mid_epoch_exactly(tmp_path):
    # 40 images / 4 = 10 steps an epoch: the halves meet at step 7, mid-epoch
    root = make_folder(tmp_path / "pics", n=40)
    straight = Trainer(tiny(root, tmp_path / "straight", max_steps=14))
    assert straight.run() == ev.FINISHED
    first = Trainer(tiny(root, tmp_path / "split", max_steps=7, preload_gb=0))
    assert first.run() == ev.FINISHED, first.error
    assert isinstance(first.data, StreamSource)
    resumed = Trainer.from_checkpoint(latest_checkpoint(tmp_path / "split"), max_steps=14)
    assert resumed.run() == ev.FINISHED and isinstance(resumed.data, StreamSource)
    for name in ("g", "d"):
        a, b = getattr(straight.gan, name).state_dict(), getattr(resumed.gan, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


# -- what the user hears ------------------------------------------------------------------------


def test_the_trainer_reports_decoding_and_records_one_alert(tmp_path, monkeypatch):
    from tui_gan.cli.headless import run_headless

    monkeypatch.setattr(images, "PROGRESS_INTERVAL_S", 0.0)
    root = make_folder(tmp_path / "pics", n=130, broken=4)
    run_dir = tmp_path / "run"
    out = io.StringIO()  # not a terminal: plain lines
    assert run_headless(Trainer(tiny(root, run_dir, max_steps=2)), out) == 0
    events = list(read_events(run_dir / "events.jsonl"))
    progress = [(e.done, e.total) for e in events if isinstance(e, ev.ImagesDecoded)]
    assert progress[0] == (0, 134) and progress[-1] == (134, 134) and len(progress) >= 3
    kinds = [e.kind for e in events]
    assert kinds.index("images_decoded") < kinds.index("run_started")
    alerts = [
        e.message for e in events if isinstance(e, ev.Alert) and "cannot be read" in e.message
    ]
    assert len(alerts) == 1 and "4 of 134" in alerts[0] and "broken0.jpg" in alerts[0]
    text = out.getvalue()
    assert "decoding 0 / 134 images" in text and "decoding 134 / 134 images" in text
    assert f"warning: {alerts[0]}" in text


def test_any_map_style_data_set_streams_like_its_preloaded_stack():
    # What a plug-in data set goes through: items of another shape, adapted one at a time, must
    # give the batches its adapted stack gives when preloaded.
    from core.data import ShapedItems, prepare_images, stream_source

    gen = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (24, 1, 28, 28), dtype=torch.uint8, generator=gen)
    items = [(img, label) for label, img in enumerate(raw)]  # (image, label) pairs
    cfg = TrainConfig.from_preset(
        "mnist-dcgan", image_size=16, channels=3, batch_size=4, device="cpu", seed=2
    )
    stack = prepare_images(raw, cfg)
    shaped = ShapedItems(items, lambda item: item[0], cfg)
    assert len(shaped) == 24 and all(torch.equal(shaped[i], stack[i]) for i in range(24))
    preloaded = TensorSource(stack, 4, 2, channels_last=True)
    streamed = stream_source(shaped, 24, cfg.replace(data_workers=0), CPU, True, 0, 1, "is big")
    assert "is big" in streamed.note
    for epoch, start in ((0, 0), (3, 2)):
        for x, y in zip(
            preloaded.batches(epoch, start), streamed.batches(epoch, start), strict=True
        ):
            assert torch.equal(x, y)
