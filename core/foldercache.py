"""Decoded image folders cached on disk, so a second start skips decoding.

One file an entry, named by the folder, `image_size`, `channels` and `subset`; its header records a
fingerprint of the files (paths, sizes, modification times), the unreadable ones, and a CRC-32 of
the pixels. An entry whose fingerprint differs is stale, one whose header, length or CRC is wrong is
damaged: either is decoded again and replaced. No torch here: `tui-gan cache` lists and clears.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.cachedir import cache_dir
from core.images import ImageFile

MAGIC = b"TGANIMG\x00"
VERSION = 1  # of the file format and of core.images.decode: a change there must bump it
ALIGN = 64  # the pixels start on a 64-byte boundary
CRC_BLOCK = 64 << 20


def folders_dir() -> Path:
    return cache_dir() / "folders"


def entry_path(root: Path, image_size: int, channels: int, subset: int | None) -> Path:
    """Where the entry of this folder decoded at this shape lives."""
    key = json.dumps([VERSION, str(root.resolve()), image_size, channels, subset])
    return folders_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.bin"


def fingerprint(files: Sequence[ImageFile]) -> str:
    """What the entry is valid for: every file's path under the folder, size and modification time."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.rel}\t{f.size}\t{f.mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass
class Entry:
    """One cached folder: its header, and where it lives."""

    path: Path
    header: dict[str, Any]
    offset: int  # where the pixels start

    @property
    def folder(self) -> str:
        return str(self.header.get("root", "?"))

    @property
    def images(self) -> int:
        return int(self.header.get("n", 0))

    @property
    def bad(self) -> list[tuple[str, str]]:
        """The unreadable files (path under the folder, reason), as found when decoding."""
        return [(str(p), str(why)) for p, why in self.header.get("bad", [])]

    @property
    def has_pixels(self) -> bool:
        return bool(self.header.get("pixels"))


class Damaged(Exception):
    """A cache file that is not a whole entry; the message says what is wrong."""


def _crc(buffer: memoryview) -> int:
    crc = 0
    for start in range(0, len(buffer), CRC_BLOCK):
        crc = zlib.crc32(buffer[start : start + CRC_BLOCK], crc)
    return crc


def read_header(path: Path) -> Entry:
    """The header of a cache file; Damaged when it is not one or is cut short."""
    with path.open("rb") as fh:
        head = fh.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4 or head[: len(MAGIC)] != MAGIC:
            raise Damaged("not a tui-gan image cache")
        (length,) = struct.unpack("<I", head[len(MAGIC) :])
        raw = fh.read(length)
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise Damaged(f"unreadable header ({exc})") from None
    if header.get("version") != VERSION:
        raise Damaged(f"format {header.get('version')}, expected {VERSION}")
    offset = -(-(len(MAGIC) + 4 + length) // ALIGN) * ALIGN
    expected = offset + int(header.get("nbytes", 0))
    size = path.stat().st_size
    if size != expected:
        raise Damaged(f"{size} bytes, the header says {expected}")
    return Entry(path, header, offset)


def read_pixels(entry: Entry) -> np.ndarray:
    """The entry's images as uint8 N×C×H×W, checked against the CRC its header records."""
    h = entry.header
    shape = (int(h["n"]), int(h["channels"]), int(h["image_size"]), int(h["image_size"]))
    buffer = bytearray(int(h["nbytes"]))
    if len(buffer) != int(np.prod(shape)):
        raise Damaged(f"the header's shape {shape} does not match its {len(buffer)} bytes")
    with entry.path.open("rb") as fh:
        fh.seek(entry.offset)
        if fh.readinto(buffer) != len(buffer):
            raise Damaged("cut short")
    if _crc(memoryview(buffer)) != h.get("crc32"):
        raise Damaged("its pixels fail their CRC-32 check")
    return np.frombuffer(buffer, np.uint8).reshape(shape)


def write(path: Path, header: dict[str, Any], images: np.ndarray | None) -> None:
    """Write an entry atomically: a temporary file in the same folder, then os.replace."""
    pixels = np.ascontiguousarray(images).data.cast("B") if images is not None else None
    header = {
        **header,
        "version": VERSION,
        "created": time.time(),
        "pixels": pixels is not None,
        "nbytes": len(pixels) if pixels is not None else 0,
        "crc32": _crc(pixels) if pixels is not None else 0,
    }
    raw = json.dumps(header).encode()
    head = MAGIC + struct.pack("<I", len(raw)) + raw
    head += b"\0" * (-len(head) % ALIGN)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(head)
            if pixels is not None:
                fh.write(pixels)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def entries() -> list[tuple[Path, Entry | str]]:
    """Every cache file, oldest first: its entry, or why it cannot be read."""
    found: list[tuple[Path, Entry | str]] = []
    folder = folders_dir()
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.bin"), key=lambda p: p.stat().st_mtime):
        try:
            found.append((path, read_header(path)))
        except (OSError, Damaged) as exc:
            found.append((path, str(exc)))
    return found


def clear() -> tuple[int, int]:
    """Remove every entry (and temporary files a killed write left); (files removed, bytes freed)."""
    folder = folders_dir()
    count = freed = 0
    if not folder.is_dir():
        return 0, 0
    for path in [*folder.glob("*.bin"), *folder.glob(".*.tmp")]:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        count, freed = count + 1, freed + size
    return count, freed
