"""The user's own data set, `dataset = "package.module:function"`: `function(config)` returns a
map-style torch Dataset of images, each made a uint8 C×H×W tensor of the config's shape here."""

from __future__ import annotations

from collections.abc import Iterable, Sized
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from core.errors import DataError
from core.plugins import call, resolve

if TYPE_CHECKING:  # core.config imports core.data, which imports this module
    from core.config import TrainConfig

LUMA = (0.299, 0.587, 0.114)  # the weights core.data.prepare_images greys colour images with


def open_dataset(config: TrainConfig) -> Any:
    """The data set `config.dataset` names: `function(config)`, checked to be map-style and not empty."""
    name = config.dataset
    dataset = call(name, "dataset", resolve(name, "dataset"), config)
    if isinstance(dataset, torch.utils.data.IterableDataset) or not (
        isinstance(dataset, Sized) and hasattr(dataset, "__getitem__")
    ):
        raise DataError(
            f"dataset: {name} returned a {type(dataset).__name__}; expected a map-style "
            "torch.utils.data.Dataset (with __len__ and __getitem__)"
        )
    if len(dataset) == 0:
        raise DataError(f"dataset: {name} returned an empty data set")
    return dataset


def load_items(dataset: Any, indices: Iterable[int], config: TrainConfig) -> torch.Tensor:
    """Items `indices` of a plug-in data set as uint8 N×C×H×W (the config's channels and size)."""
    picked = [int(i) for i in indices]
    c, size = config.channels, config.image_size
    out = torch.empty(len(picked), c, size, size, dtype=torch.uint8)
    for row, i in enumerate(picked):
        item = call(config.dataset, "dataset", dataset.__getitem__, i)
        try:
            out[row] = item_to_chw(item, c, size)
        except DataError as exc:
            raise DataError(f"dataset: {config.dataset}: item {i}: {exc}") from None
    return out


class PluginItems(Dataset[torch.Tensor]):
    """Items `indices` of a plug-in data set, each converted as `load_items` converts it: what a run
    too large to preload streams, a batch at a time."""

    def __init__(self, dataset: Any, indices: list[int], config: TrainConfig) -> None:
        self.dataset, self.indices, self.config = dataset, indices, config

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> torch.Tensor:
        return load_items(self.dataset, [self.indices[index]], self.config)[0]


def item_to_chw(item: Any, channels: int, size: int) -> torch.Tensor:
    """One data set item as a uint8 `channels`×`size`×`size` tensor, as the built-in sets are made.

    Takes an image or an (image, label) pair (or a dict with an "image" key); an image is a PIL
    image, or a uint8 (or other whole numbers 0..255) or float tensor or numpy array, C×H×W or
    H×W×C or H×W. Floats are in [0, 1] (what torchvision's ToTensor gives). Alpha is composited on black, grey becomes colour
    by repetition and colour grey by luma, then a centre square crop is resized (bilinear,
    antialiased) to `size`. DataError says what the item is when it is none of these.
    """
    if isinstance(item, dict):
        item = item.get("image", item.get("img"))
    elif isinstance(item, (tuple, list)) and item:
        item = item[0]
    image = _as_uint8_chw(item)
    if image.shape[0] in (2, 4):  # grey or colour with alpha: composite on black
        alpha = image[-1:].float() / 255
        image = (image[:-1].float() * alpha).round().to(torch.uint8)
    if image.shape[0] != channels:
        if channels == 3:
            image = image.expand(3, -1, -1)
        else:
            weights = torch.tensor(LUMA).view(3, 1, 1)
            image = (image.float() * weights).sum(0, keepdim=True).round().clamp(0, 255)
            image = image.to(torch.uint8)
    h, w = image.shape[1:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[:, top : top + side, left : left + side]
    if side != size:
        resized = F.interpolate(
            image[None].float(), size=(size, size), mode="bilinear", antialias=True
        )
        image = resized[0].round().clamp(0, 255).to(torch.uint8)
    return image.contiguous()


def _as_uint8_chw(image: Any) -> torch.Tensor:
    """A PIL image, tensor or array as uint8 C×H×W with 1 to 4 channels."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image, without importing PIL
        # as an image folder's files are made 8-bit: alpha on black, palettes, 16-bit greys
        from core.images import eight_bit

        return _from_hwc(np.array(eight_bit(image), dtype=np.uint8))
    if isinstance(image, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        layout_hwc = True  # numpy images (PIL, imageio, OpenCV) are H×W×C
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        layout_hwc = False  # torch images are C×H×W
    else:
        raise DataError(
            f"a {type(image).__name__} is not an image; expected a PIL image, a tensor or an "
            "array (or an (image, label) pair)"
        )
    if tensor.ndim == 2:
        tensor = tensor[None]
    elif tensor.ndim == 3:
        first, last = tensor.shape[0] in (1, 2, 3, 4), tensor.shape[-1] in (1, 2, 3, 4)
        if (layout_hwc and last) or (not first and last):
            tensor = tensor.permute(2, 0, 1)
        elif not first:
            raise DataError(f"shape {_dims(tensor.shape)} has no 1 to 4 channels")
    else:
        raise DataError(f"shape {_dims(tensor.shape)} is not an image (C×H×W, H×W×C or H×W)")
    if tensor.dtype == torch.uint8:
        return tensor
    if tensor.dtype == torch.bool:
        return tensor.to(torch.uint8) * 255
    if not tensor.is_floating_point():  # other whole numbers: fine when they are 0..255
        if tensor.is_complex() or int(tensor.min()) < 0 or int(tensor.max()) > 255:
            raise DataError(
                f"{tensor.dtype} pixels outside 0..255; expected uint8 or floats in [0, 1]"
            )
        return tensor.to(torch.uint8)
    tensor = tensor.float()
    low, high = float(tensor.min()), float(tensor.max())
    if not (low >= -1e-3 and high <= 1 + 1e-3):
        raise DataError(
            f"float pixels in [{low:.3g}, {high:.3g}]; expected [0, 1] (torchvision's ToTensor) "
            "or uint8 0..255"
        )
    return (tensor * 255).round().clamp(0, 255).to(torch.uint8)


def _from_hwc(array: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def _dims(shape: Iterable[int]) -> str:
    return "×".join(map(str, shape))
