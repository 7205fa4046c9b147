"""Image files decoded to uint8 arrays: one decode function for every path that reads them (the
preloaded data set, the streamed one, the cache), and a process pool that decodes many at once.

No torch here: the pool's worker processes import this module, and they start fast without it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
FIRST_CHUNK = 64  # images decoded at a time in this process, before and instead of a pool
POOL_WORTH_S = 2.0  # decoding that would take longer than this here goes to a process pool
PROGRESS_INTERVAL_S = 0.5
SHOWN_BAD = 3  # unreadable files named in the one alert that counts them

Progress = Callable[[int, int], None]  # (images decoded, images in all)


@dataclass(frozen=True)
class ImageFile:
    """One image file of a folder: its path under the folder, size and modification time."""

    rel: str
    size: int
    mtime_ns: int


def scan_images(root: Path) -> list[ImageFile]:
    """Every image file under `root` (recursively; symlinked folders are not followed), in path
    order: the order of the data set. One scandir pass, its stat calls reused by the cache key."""
    found: list[ImageFile] = []
    folders = [""]
    while folders:
        rel = folders.pop()
        with os.scandir(os.path.join(root, rel)) as entries:
            for entry in entries:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders.append(sub)
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and entry.is_file():
                    st = entry.stat()
                    found.append(ImageFile(sub, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.rel.split("/"))  # as Path sorts: folder by folder
    return found


def eight_bit(img: Image.Image) -> Image.Image:
    """`img` as 8-bit L or RGB: alpha composited on black, palettes expanded, 16-bit scaled."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG, TIFF): 0..65535 onto 0..255; convert("L") would clip at 255 instead.
        wide = np.asarray(img).astype(np.float64)
        return Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        wide = np.asarray(img, dtype=np.float64)
        scale = 255.0 if np.nanmax(wide, initial=0.0) <= 1.0 else 1.0  # floats in [0, 1] or 0..255
        wide = np.nan_to_num(wide * scale)
        return Image.fromarray(np.clip(np.rint(wide), 0, 255).astype(np.uint8), "L")
    mode = img.mode
    if mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB" if mode[0] == "R" else "L")
    if mode in ("L", "RGB"):
        return img
    return img.convert("RGB")  # 1, CMYK, YCbCr, LAB, HSV


def decode(path: str | Path, size: int, channels: int) -> np.ndarray:
    """One image file as uint8 `channels`×`size`×`size`: the first frame, upright (EXIF), centre
    square crop, bicubic resize. Raises whatever PIL raises for an unreadable file."""
    with Image.open(path) as opened:
        if opened.format == "JPEG":
            # DCT scaling: a big photo decodes at the smallest scale still ≥ `size`, far faster.
            opened.draft("RGB" if channels == 3 else "L", (size, size))
        img = ImageOps.exif_transpose(opened) or opened
        img = eight_bit(img).convert("L" if channels == 1 else "RGB")
        side = min(img.size)  # centre square crop keeps the aspect of the content
        left, top = (img.width - side) // 2, (img.height - side) // 2
        # crop, then resize: resize's box would blend in pixels from beyond the square's edges
        img = img.crop((left, top, left + side, top + side)).resize(
            (size, size), Image.Resampling.BICUBIC
        )
        arr = np.asarray(img, dtype=np.uint8).reshape(size, size, channels)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def reason(exc: BaseException, path: str = "") -> str:
    """Why a file could not be decoded, in one short line (without its path, said elsewhere)."""
    text = (
        " ".join(str(exc).replace(f" '{path}'", "").split()) if path else " ".join(str(exc).split())
    )
    return text[:160] if text else type(exc).__name__


@dataclass
class Decoded:
    """What decoding a list of files gave: the images of the readable ones, in order, and the
    positions and reasons of the others."""

    images: np.ndarray | None  # N×C×H×W uint8 (None when only checked)
    bad: list[tuple[int, str]] = field(default_factory=list)

    def good_positions(self, n: int) -> list[int]:
        skipped = {i for i, _ in self.bad}
        return [i for i in range(n) if i not in skipped]


ChunkResult = tuple[np.ndarray | None, list[tuple[int, str]]]


def _decode_chunk(paths: Sequence[str], size: int, channels: int, keep: bool) -> ChunkResult:
    out = np.empty((len(paths), channels, size, size), np.uint8) if keep else None
    bad: list[tuple[int, str]] = []
    for i, path in enumerate(paths):
        try:
            arr = decode(path, size, channels)
        except Exception as exc:  # any file PIL cannot read is skipped, never fatal here
            bad.append((i, reason(exc, path)))
            continue
        if out is not None:
            out[i] = arr
    return out, bad


def default_workers() -> int:
    """Processes a decode uses when the config leaves it open: one per core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_start_workers() -> bool:
    """Whether worker processes can start: they import the main module again, which a script read
    from stdin does not allow (it is no file)."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) is not None:  # python -m
        return True
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


def ignore_sigint(*_: object) -> None:
    """Worker processes leave Ctrl-C to the trainer, which stops the run with a checkpoint; the
    terminal sends it to them too, and dying of it would fail the run instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pool_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: forked from a clean server process, never from this one, whose
    threads (the app, torch) may hold locks a fork would copy locked."""
    return multiprocessing.get_context("forkserver")


def decode_all(
    paths: Sequence[str | Path],
    size: int,
    channels: int,
    workers: int,
    progress: Progress | None = None,
    keep: bool = True,
) -> Decoded:
    """Decode every file with `workers` processes (0 or 1: here), reporting `progress` every half
    second; unreadable files are listed, not raised. `keep=False` only checks that each decodes."""
    n = len(paths)
    names = [str(p) for p in paths]
    images = np.empty((n, channels, size, size), np.uint8) if keep else None
    bad: list[tuple[int, str]] = []
    done, last = 0, 0.0

    def report(force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if progress is not None and (force or now - last >= PROGRESS_INTERVAL_S):
            last = now
            progress(done, n)

    def take(start: int, count: int, result: ChunkResult) -> None:
        nonlocal done
        chunk, chunk_bad = result
        if images is not None and chunk is not None:
            images[start : start + count] = chunk
        bad.extend((start + i, why) for i, why in chunk_bad)
        done += count
        report(done == n)

    report(force=True)
    # The first images decode here and time the rest: a pool (its processes take a second or so
    # to start) only when they would take longer than that.
    start, started = 0, time.perf_counter()
    while start < n:
        part = names[start : start + FIRST_CHUNK]
        take(start, len(part), _decode_chunk(part, size, channels, keep))
        start += len(part)
        left = (time.perf_counter() - started) / start * (n - start)
        if workers > 1 and left > POOL_WORTH_S and can_start_workers():
            break
    if start < n:
        # Small chunks keep the progress fine and the cores evenly busy; big ones cost less IPC.
        step = max(8, min(256, (n - start) // (workers * 16)))
        with ProcessPoolExecutor(
            workers, mp_context=pool_context(), initializer=ignore_sigint
        ) as pool:
            pending = {
                pool.submit(_decode_chunk, names[s : s + step], size, channels, keep): s
                for s in range(start, n, step)
            }
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    first = pending.pop(future)
                    take(first, min(step, n - first), future.result())
    bad.sort()
    if images is not None and bad:
        images = images[Decoded(None, bad).good_positions(n)]
    return Decoded(images, bad)


def describe_bad(bad: Sequence[tuple[str, str]], total: int) -> str:
    """One line counting the unreadable files and naming the first few with their reasons."""
    shown = "; ".join(f"{path} ({why})" for path, why in bad[:SHOWN_BAD])
    more = f"; and {len(bad) - SHOWN_BAD} more" if len(bad) > SHOWN_BAD else ""
    return f"{len(bad)} of {total} image files cannot be read and are skipped: {shown}{more}"
