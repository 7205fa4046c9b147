"""The run directory: its layout, the append-only event log, status.json and the one-trainer lock."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from core.errors import RunDirError
from core.events import FINAL_STATES, Event, StateChanged, from_json, to_json

CONFIG_FILE, EVENTS_FILE, STATUS_FILE, LOCK_FILE = (
    "config.toml",
    "events.jsonl",
    "status.json",
    ".lock",
)
CRASHED = "crashed"
MAX_STATUS_BYTES = 64 * 1024  # status.json is a few hundred bytes; more is not one of ours
TAIL_BYTES = 256 * 1024  # the end of events.jsonl read to check a stale status.json


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; written files get the mode a plain open() would give them instead.
FILE_MODE = 0o666 & ~_read_umask()


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`: every byte a run writes passes here (tests inject faults here)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextmanager
def _replacing(path: Path, prefix: str, durable: bool = True) -> Iterator[int]:
    """The descriptor of a new file that replaces `path` whole when the block ends without an error
    and is removed when it fails: readers see the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            yield fd
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part.

    `durable=False` skips the fsyncs (about 15 ms here): still atomic for readers, but a power
    cut may lose the write; for files rewritten every few seconds from the training thread.
    """
    path = Path(path)
    with _replacing(path, f".{path.name}.", durable) as fd:
        write_all(fd, data)


@contextmanager
def atomic_stream(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through when it is too big to hold in memory: readers see
    the old file or the whole new one. The temporary file's name (`.tui-gan-….tmp`) does not
    repeat `path`'s, so tools that pick files by name (TensorBoard's `tfevents`) skip it."""
    # the buffer is flushed into the descriptor before _replacing syncs and closes it
    with _replacing(path, ".tui-gan-") as fd, os.fdopen(fd, "wb", closefd=False) as fh:
        yield fh


def overwrite(path: Path, data: bytes) -> None:
    """Rewrite an existing file in place: not atomic, but it reuses the file's blocks and needs no
    write permission on its directory, so it works where atomic_write cannot."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)  # never creates: that would need the directory
    try:
        write_all(fd, data)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class RunDir:
    """Paths of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def events(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def status(self) -> Path:
        return self.path / STATUS_FILE

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def exports(self) -> Path:
        return self.path / "exports"

    def create(self) -> None:
        try:
            for folder in (self.path, self.samples, self.checkpoints):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"{self.path}: cannot create run directory: {exc.strerror}") from None


class RunLock:
    """An exclusive flock on RUN_DIR/.lock: the kernel drops it when its process dies, so a stale
    lock never blocks the next run."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            fh = open(self.path, "a+")
        except OSError as exc:
            raise RunDirError(
                f"{self.path.parent}: the run directory is not writable ({exc.strerror or exc})"
            ) from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunDirError(
                f"{self.path.parent}: in use by a running trainer (pid {holder}); "
                "watch it, stop it, or pick another --run-dir"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class EventLog:
    """Append-only `events.jsonl`: one JSON object a line, written whole or not at all."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        # A line cut by a kill is ended before the next event, so that event stays whole.
        self._torn = _last_byte(path) not in (b"", b"\n")

    def write(self, event: Event) -> None:
        """Append one line; when the write fails part-way, cut the file back to where the line began."""
        line = json.dumps(to_json(event), allow_nan=True).encode() + b"\n"
        if self._torn:
            line = b"\n" + line
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            write_all(self._fd, line)
        except OSError:
            try:
                os.ftruncate(self._fd, start)  # shrinking needs no space
            except OSError:
                self._torn = True  # then at least the next line starts on a line of its own
            raise
        self._torn = False

    def close(self) -> None:
        os.close(self._fd)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        return os.pread(fh.fileno(), 1, size - 1) if size else b""


def read_events(path: str | Path) -> Iterator[Event]:
    """Every event of an events.jsonl, skipping a torn last line or lines of unknown kinds."""
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            try:
                yield from_json(json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut by a crash or written by a newer version


def read_regular(path: str | Path, limit: int) -> bytes:
    """At most `limit` bytes from the start of a regular file, without ever blocking: a FIFO or a
    device in a run directory is an OSError (EINVAL, "not a regular file"), not a hang."""
    fd = os.open(
        path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    )  # opening a FIFO so returns at once
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_run_dir(path: Path) -> bool:
    """Whether `path` is a run directory: it holds a config, an event log or a status."""
    return path.is_dir() and any(
        (path / name).is_file() for name in (CONFIG_FILE, EVENTS_FILE, STATUS_FILE)
    )


def write_status(run_dir: Path, state: str, step: int, epoch: int, **extra: Any) -> None:
    """Record the run's state for readers that do not follow the event log."""
    data = {
        "state": state,
        "pid": os.getpid(),
        "step": step,
        "epoch": epoch,
        "time": time.time(),
        **extra,
    }
    path = Path(run_dir) / STATUS_FILE
    try:
        atomic_write(path, json.dumps(data).encode(), durable=False)
    except (
        OSError
    ) as exc:  # a full disk or a directory made read-only: rewrite the old file in place
        data["status_write_failed"] = exc.strerror or str(exc)
        try:
            overwrite(path, json.dumps(data).encode())
        except OSError:
            raise exc from None


def lock_held(run_dir: str | Path) -> bool:
    """Whether a live trainer holds the run directory (a dead one's flock is gone with it)."""
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # not a lock of ours
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """status.json, with state `crashed` when its process is gone before a final state; None when
    it is missing or unreadable."""
    try:
        return load_status(run_dir)
    except ValueError:
        return None


def load_status(run_dir: str | Path) -> dict[str, Any] | None:
    """status.json as read_status gives it; None when missing, ValueError naming the problem when
    it is there but cannot be read (not a regular file, too large, not a JSON object)."""
    try:
        raw = read_regular(Path(run_dir) / STATUS_FILE, MAX_STATUS_BYTES + 1)
    except FileNotFoundError:
        # perhaps never written (a full disk): events.jsonl may still say how the run ended
        raw = b""
    except OSError as exc:
        raise ValueError(f"{STATUS_FILE}: {exc.strerror or exc}") from None
    if len(raw) > MAX_STATUS_BYTES:
        raise ValueError(f"{STATUS_FILE}: larger than {MAX_STATUS_BYTES} bytes")
    try:
        data, problem = json.loads(raw or b"{}"), ""
        if not isinstance(data, dict):
            data, problem = {}, "not a JSON object"
    except (ValueError, RecursionError):
        data, problem = {}, "not JSON"  # perhaps cut by a failed rewrite in place
    if data.get("state") not in FINAL_STATES and not lock_held(run_dir):
        ended = last_state(Path(run_dir) / EVENTS_FILE)
        # status.json could not be rewritten at the end
        if ended is not None and ended.state in FINAL_STATES:
            failed = (
                data.get("status_write_failed")
                or problem
                or ("missing" if not raw else "not rewritten")
            )
            return {
                **data,
                "state": ended.state,
                "step": ended.step,
                "status_write_failed": failed,
                "status_note": f"status.json could not be written ({failed}); state and step from events.jsonl",
            }
    if not raw:
        return None
    if problem:
        raise ValueError(f"{STATUS_FILE}: {problem}")
    if data.get("state") not in FINAL_STATES and not lock_held(run_dir):
        data["state"] = CRASHED
    if "status_write_failed" in data:
        data["status_note"] = (
            f"status.json could not be written atomically ({data['status_write_failed']})"
        )
    return data


def last_state(events: Path, tail: int = TAIL_BYTES) -> StateChanged | None:
    """The last state change in the final `tail` bytes of an event log; None when there is none."""
    try:
        with open(events, "rb") as fh:
            fh.seek(max(fh.seek(0, os.SEEK_END) - tail, 0))
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if b'"state_changed"' in line:
            try:
                event = from_json(json.loads(line))
            except (ValueError, TypeError):
                continue
            if isinstance(event, StateChanged):
                return event
    return None
