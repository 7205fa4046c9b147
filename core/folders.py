"""Image folders: their files decoded (on every core) or found in the cache, and unreadable files
skipped; a map-style data set that decodes them one by one for the streaming path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core import foldercache
from core.errors import DataError
from core.images import ImageFile, Progress, decode, decode_all, describe_bad, reason


@dataclass
class FolderData:
    """A folder as the data set sees it: its readable files in order, and their images when asked."""

    root: Path
    paths: list[str]  # the readable files, in data-set order
    images: np.ndarray | None  # uint8 N×C×H×W, or None when only checked (the streaming path)
    bad: list[tuple[str, str]]  # unreadable files: path under root, reason
    tried: int  # files looked at, readable or not
    notes: list[str] = field(default_factory=list)  # about the cache: stale, damaged, unwritable
    cached: bool = False  # read from the cache, not decoded

    def alerts(self) -> list[tuple[str, str]]:
        """(level, message) for the user: cache notes, then the count of unreadable files."""
        out = [("info", note) for note in self.notes]
        if self.bad:
            out.append(("warning", f"folder {self.root}: {describe_bad(self.bad, self.tried)}"))
        return out


def read_folder(
    root: Path,
    files: Sequence[ImageFile],
    size: int,
    channels: int,
    subset: int | None,
    workers: int,
    progress: Progress | None = None,
    keep: bool = True,
) -> FolderData:
    """The `files` under `root` decoded at `size`×`size`×`channels` (`keep=False`: only which
    of them are readable), from the cache when it is current, else decoded and cached."""
    cache = foldercache.entry_path(root, size, channels, subset)
    fp = foldercache.fingerprint(files)
    paths = [os.path.join(root, f.rel) for f in files]
    notes: list[str] = []
    try:
        entry = foldercache.read_header(cache)
        if entry.header.get("fingerprint") != fp:
            notes.append(f"the image cache of {root} is stale (files changed): decoding again")
        elif entry.has_pixels or not keep:
            skip = {p for p, _ in entry.bad}
            good = [p for p, f in zip(paths, files) if f.rel not in skip]
            if len(good) != entry.images:
                raise foldercache.Damaged(f"{entry.images} images, {len(good)} readable files")
            images = foldercache.read_pixels(entry) if keep else None
            return FolderData(root, good, images, entry.bad, len(paths), cached=True)
    except FileNotFoundError:
        pass
    except (OSError, foldercache.Damaged) as exc:
        notes.append(f"the image cache {cache} is damaged ({exc}): decoding again")
    decoded = decode_all(paths, size, channels, workers, progress, keep)
    bad = [(files[i].rel, why) for i, why in decoded.bad]
    good = [paths[i] for i in decoded.good_positions(len(paths))]
    data = FolderData(root, good, decoded.images, bad, len(paths), notes)
    if good:
        header = {
            "root": str(root.resolve()),
            "image_size": size,
            "channels": channels,
            "subset": subset,
            "fingerprint": fp,
            "n": len(good),
            "files": len(paths),
            "bad": bad,
        }
        try:
            foldercache.write(cache, header, decoded.images)
        except OSError as exc:  # an unwritable cache only costs decoding again next time
            notes.append(f"cannot write the image cache {cache}: {reason(exc)}")
    return data


class FolderImages(Dataset[torch.Tensor]):
    """The files of a folder as uint8 C×H×W tensors, decoded on each access (in DataLoader workers)
    by the same function that preloading uses."""

    def __init__(self, paths: Sequence[str], size: int, channels: int) -> None:
        self.paths = list(paths)
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        try:
            return torch.from_numpy(decode(path, self.size, self.channels))
        except Exception as exc:  # it decoded when the run started: the file changed since
            raise DataError(
                f"folder: cannot read image {path} (changed since the run started?): {reason(exc)}"
            ) from None
