"""The control endpoint of a run: a private Unix socket that streams its events and takes commands.

Protocol, one JSON object a line in each direction. The server first sends
`{"reply": "hello", ...}`, then every line of `events.jsonl` (the history), then
`{"reply": "live"}` once it has caught up, then each new event as the trainer logs it. A client
sends commands as `core.commands.to_json` objects (their string `"id"` is the command's id, echoed
back) and gets `{"reply": "ack", ...}` or `{"reply": "refused", "reason": ...}` for each; the
trainer's answer follows as a `command_done` or `command_refused` event with that id.

The server shares its process with the training, so what a client can make it do is bounded: any
line (any bytes, any JSON value) gets a refusal or drops the client, never an exception; a client
that keeps sending faster than its command rate, or sends too many bad lines, is dropped, and a
process that gets dropped again or reconnects in a loop is refused for a growing while (its
backoff); connections are accepted at a bounded rate and the log is replayed at a bounded rate
shared by all clients.

Each client's writer follows `events.jsonl` itself (the trainer only wakes it up), so history and
live events come from one ordered source: no gap and no duplicate at the seam, and a client that
stops reading only stalls its own thread until it is dropped; training never waits for it.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import hashlib
import json
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core import commands as cmd
from core import events as ev
from core.errors import UserError
from core.events import FINAL_STATES
from core.rundir import EVENTS_FILE, is_run_dir, lock_held, read_regular, read_status

PROTOCOL = 1
CONTROL_DIR = ".control"  # mode 0700: only the owner can reach the socket inside
SOCKET_NAME = "sock"
POINTER_NAME = "sock.path"  # holds the socket's path when the run dir is too deep for AF_UNIX
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, including the final NUL
MAX_LINE = 64 * 1024
MAX_CLIENTS = 16
SEND_TIMEOUT_S = 10.0  # a client that takes no data for this long is dropped
MAX_PENDING_REPLIES = 256
COMMAND_RATE, COMMAND_BURST = 20.0, 40  # commands a client may send per second, and in a burst
MAX_BAD_LINES = 50
MAX_RATE_STRIKES = COMMAND_BURST  # commands in a row over the rate, then the client is dropped
ACCEPT_RATE, ACCEPT_BURST = 20.0, MAX_CLIENTS  # connections accepted per second, and in a burst
RECONNECT_WINDOW_S, MAX_RECONNECTS = (
    10.0,
    30,
)  # more connections than this from one process: backoff
BACKOFF_S, MAX_BACKOFF_S = 1.0, 60.0  # a process dropped again waits this long, doubled each time
REPLAY_RATE, REPLAY_BURST = (
    32 << 20,
    4 << 20,
)  # bytes of the log sent per second (all clients), burst
CLOSE_TIMEOUT_S = 2.0
READ_CHUNK = 256 * 1024
REASON_CHARS = 300  # a refusal quotes at most this much of what it refuses
_SCALARS = (bool, int, float, str, type(None))


class ControlError(UserError):
    """A run that cannot be reached: missing, ended, or without a control endpoint."""


# -- where the socket lives --------------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    """Create `path` as a 0700 directory of ours, or refuse one that others could enter."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ControlError(f"{path}: cannot create control directory: {exc.strerror}") from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ControlError(
            f"{path}: not a directory owned by this user; refusing to put a socket there"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def runtime_dir(name_length: int = 30) -> Path:
    """A per-user private directory for sockets whose run directory path is too long:
    $XDG_RUNTIME_DIR/tui-gan when a name of `name_length` fits there, else /tmp/tui-gan-UID."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and _fits(Path(xdg) / "tui-gan" / ("x" * name_length)):
        try:
            return _private_dir(Path(xdg) / "tui-gan")
        except (ControlError, OSError):
            pass
    return _private_dir(Path("/tmp") / f"tui-gan-{os.getuid()}")


def _fits(path: Path) -> bool:
    return len(os.fsencode(str(path))) <= MAX_SOCKET_PATH


def _listen_path(run_dir: Path) -> Path:
    """Prepare the control directory and return where the socket must be bound."""
    control = _private_dir(run_dir.resolve() / CONTROL_DIR)
    pointer = control / POINTER_NAME
    local = control / SOCKET_NAME
    for stale in (local, pointer):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    if _fits(local):
        return local
    digest = hashlib.sha256(os.fsencode(str(run_dir.resolve()))).hexdigest()[:24]
    remote = runtime_dir(len(digest) + 5) / f"{digest}.sock"
    try:
        remote.unlink()
    except FileNotFoundError:
        pass
    pointer.write_text(str(remote) + "\n")
    return remote


def socket_path(run_dir: str | Path) -> Path | None:
    """The control socket of a run, following the pointer file; None when there is none."""
    control = Path(run_dir).resolve() / CONTROL_DIR
    local = control / SOCKET_NAME
    try:
        if stat.S_ISSOCK(os.stat(local).st_mode):
            return local
    except OSError:
        pass
    try:  # bounded and non-blocking: `tui-gan runs` asks this of every run, damaged or not
        target = Path(read_regular(control / POINTER_NAME, 4096).decode().strip())
    except (OSError, ValueError):
        return None
    return target if target.is_absolute() else None


# -- bounding what clients cost -------------------------------------------------------------------


class TokenBucket:
    """`rate` tokens a second up to `burst`; thread-safe."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._refilled = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self, n: float = 1.0) -> float:
        """Take `n` tokens (going into debt if need be); the seconds to wait before using them."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            self._tokens -= n
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def try_take(self) -> bool:
        """Take one token if there is one."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class Backoff:
    """Which client processes are kept out for a while: those dropped more than once, and those
    that reconnect in a loop. A first drop costs nothing, so one mistake does not lock a user out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[int, float] = {}  # pid -> monotonic time it may connect again
        self._delay: dict[int, float] = {}  # pid -> the backoff its next offence earns (0: a first)
        self._connects: dict[int, collections.deque[float]] = {}

    def refusal(self, pid: int | None) -> str | None:
        """Why process `pid` may not connect now (and count the attempt), or None."""
        if pid is None:
            return None
        now = time.monotonic()
        with self._lock:
            wait = self._until.get(pid, 0.0) - now
            if wait > 0:
                return f"backed off: too many commands, bad lines or connections; try again in {wait:.0f} s"
            recent = self._connects.setdefault(pid, collections.deque(maxlen=MAX_RECONNECTS + 1))
            recent.append(now)
            if len(recent) > MAX_RECONNECTS and now - recent[0] < RECONNECT_WINDOW_S:
                recent.clear()
                return self._punish(pid, now, at_least=BACKOFF_S) or "reconnecting in a loop"
            self._forget_old(now)
        return None

    def offence(self, pid: int | None) -> None:
        """Process `pid` was dropped for misbehaving."""
        if pid is not None:
            with self._lock:
                self._punish(pid, time.monotonic())

    def _punish(self, pid: int, now: float, at_least: float = 0.0) -> str | None:
        delay = max(self._delay.get(pid, 0.0), at_least)
        self._delay[pid] = min(MAX_BACKOFF_S, max(BACKOFF_S, 2 * delay))
        if delay <= 0:
            return None
        self._until[pid] = now + delay
        return f"backed off for {delay:.0f} s: reconnecting in a loop"

    def _forget_old(self, now: float) -> None:
        if len(self._connects) > 4 * MAX_CLIENTS:  # pids come and go; keep only the recent
            for pid in [
                p
                for p, times in self._connects.items()
                if not times or now - times[-1] > MAX_BACKOFF_S
            ]:
                del self._connects[pid]
                if self._until.get(pid, 0.0) < now:
                    self._until.pop(pid, None)
                    self._delay.pop(pid, None)


# -- the server --------------------------------------------------------------------------------


class ControlServer:
    """Serves one run directory's control socket; commands go to `send`, events come from the log."""

    def __init__(
        self,
        run_dir: str | Path,
        send: Callable[[cmd.Command], None],
        state: Callable[[], str] = lambda: "unknown",
        send_timeout: float = SEND_TIMEOUT_S,
        unwritten: Callable[[], bool] = lambda: False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self._unwritten = unwritten  # whether the trainer holds events the log could not take
        self.events_path = self.run_dir / EVENTS_FILE
        self.send_timeout = send_timeout
        self.socket_path: Path | None = None
        self._send = send
        self._state = state
        self._cond = threading.Condition()
        self._generation = 0  # bumped for each logged event, so writers know to read on
        self._closing = False
        self._clients: set[_Client] = set()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self.unsubscribe: Callable[[], None] = lambda: None
        self.dropped = 0  # clients dropped for not reading or misbehaving (for tests and logs)
        self.backoff = Backoff()
        self._accepts = TokenBucket(ACCEPT_RATE, ACCEPT_BURST)
        self.replay_budget = TokenBucket(REPLAY_RATE, REPLAY_BURST)

    @property
    def state(self) -> str:
        return self._state()

    def start(self) -> Path:
        """Bind the socket (mode 0600 in a 0700 directory) and start accepting clients."""
        path = _listen_path(self.run_dir)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(os.fsencode(str(path)))
            os.chmod(
                path, 0o600
            )  # the 0700 directory already keeps others out; this is belt and braces
            listener.listen(16)
            listener.settimeout(0.25)
        except OSError:
            listener.close()
            raise
        self._listener, self.socket_path = listener, path
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="tui-gan-control", daemon=True
        )
        self._accept_thread.start()
        return path

    def notify(self, event: object = None) -> None:
        """Event sink for the trainer: wake the client writers. Cheap and never blocks for long.

        An answer to a command that the log could not take (a full disk) goes to every client at
        once as an `answer` reply, so whoever sent the command is not left waiting for the disk."""
        with self._cond:
            if isinstance(event, (ev.CommandDone, ev.CommandRefused)) and self._unwritten():
                line = _line({"reply": "answer", "event": ev.to_json(event)})
                for client in self._clients:
                    client.replies.append(line)
            self._generation += 1
            self._cond.notify_all()

    def clients(self) -> int:
        with self._cond:
            return len(self._clients)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop accepting, let clients receive the last events (up to `timeout`), remove the socket."""
        self.unsubscribe()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._listener is not None:
            self._listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        self._remove_socket()
        deadline = time.monotonic() + timeout
        with self._cond:
            clients = list(self._clients)
        for client in clients:
            client.writer.join(max(0.0, deadline - time.monotonic()))
        for client in clients:
            client.drop(None)

    def _remove_socket(self) -> None:
        control = self.run_dir.resolve() / CONTROL_DIR
        for path in (self.socket_path, control / POINTER_NAME):
            if path is None:
                continue
            try:
                path.unlink()
            except OSError:
                pass

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closing:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            pid, uid = _peer(conn)
            refusal = self._admit(pid, uid)
            if refusal:
                try:
                    conn.setblocking(False)  # a refusal never waits for its reader
                    conn.send(_line({"reply": "refused", "reason": refusal}))
                except OSError:
                    pass
                conn.close()
            else:
                client = _Client(self, conn, pid)
                with self._cond:
                    self._clients.add(client)
                client.start()
            # Connections beyond the accept rate wait in the kernel's backlog (and their connect
            # blocks): a process connecting in a loop cannot make this thread take the training's time.
            wait = self._accepts.take()
            if wait > 0:
                time.sleep(min(wait, 1.0))

    def _admit(self, pid: int | None, uid: int | None) -> str | None:
        if uid is not None and uid not in (os.getuid(), 0):
            return "this run belongs to another user"
        with self._cond:
            if self._closing:
                return "the run is ending"
            if len(self._clients) >= MAX_CLIENTS:
                return f"too many clients (at most {MAX_CLIENTS})"
        return self.backoff.refusal(pid)

    def _forget(self, client: _Client) -> None:
        with self._cond:
            self._clients.discard(client)


def _peer(conn: socket.socket) -> tuple[int | None, int | None]:
    """(pid, uid) of the process at the other end of a Unix socket; Nones where unknown."""
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None, None  # not Linux; the 0700 directory is the guard there
    pid, uid, _ = struct.unpack("3i", creds)
    return pid, uid


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, allow_nan=True) + "\n").encode()


def _clip(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS] + "…"


def check_command(data: Any) -> cmd.Command:
    """A command from its JSON object, with field types checked; ValueError names what is wrong."""
    command = cmd.from_json(data)
    if isinstance(command, cmd.SetHyperparams):
        if len(command.changes) > 64:
            raise ValueError("set_hyperparams: too many changes")
        for key, value in command.changes.items():
            if not isinstance(key, str) or not isinstance(value, _SCALARS):
                raise ValueError(
                    f"set_hyperparams: {key!r} must map to a number, string or boolean"
                )
        return command
    for f in dataclasses.fields(command):
        value, default = getattr(command, f.name), f.default
        if default is not dataclasses.MISSING and type(value) is not type(default):
            raise ValueError(f"{command.kind}: {f.name} must be {type(default).__name__}")
        if isinstance(value, str) and len(value) > 500:
            raise ValueError(f"{command.kind}: {f.name} is too long")
    return command


class _Client:
    """One connection: a reader thread for commands and a writer thread that follows the log."""

    def __init__(self, server: ControlServer, conn: socket.socket, pid: int | None = None) -> None:
        self.server, self.conn, self.pid = server, conn, pid
        conn.settimeout(server.send_timeout)
        self.replies: collections.deque[bytes] = collections.deque()
        self.closed = False
        self.peer_done = False
        # the reader gave up on the client: send the replies owed, then close
        self.hanging_up = False
        self._commands = TokenBucket(COMMAND_RATE, COMMAND_BURST)
        self._bad = 0
        self._over_rate = 0  # lines in a row that came faster than the command rate
        self.reader = threading.Thread(
            target=self._read_loop, name="tui-gan-control-in", daemon=True
        )
        self.writer = threading.Thread(
            target=self._write_loop, name="tui-gan-control-out", daemon=True
        )

    def start(self) -> None:
        self.reader.start()
        self.writer.start()

    # -- leaving ---------------------------------------------------------------------------------

    def drop(self, reason: str | None, offence: bool = False) -> None:
        """Close the connection, telling the client why when it still listens; an `offence`
        (flooding, bad lines) counts towards its process's backoff."""
        with self.server._cond:
            if self.closed:
                return
            self.closed = True
            self.server._cond.notify_all()
        if offence:
            self.server.backoff.offence(self.pid)
        if reason:
            self.server.dropped += 1
            try:
                self.conn.setblocking(False)
                self.conn.send(_line({"reply": "refused", "reason": reason, "closing": True}))
            except OSError:
                pass
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.server._forget(self)

    # -- writing ---------------------------------------------------------------------------------

    def reply(self, obj: dict[str, Any]) -> None:
        """Queue a reply (called by the reader only): when many are unsent, stop reading commands
        until the writer catches up, so a flood throttles itself; a client that never reads
        them is dropped."""
        cond = self.server._cond
        with cond:
            room = cond.wait_for(
                lambda: len(self.replies) < MAX_PENDING_REPLIES or self.closed,
                timeout=self.server.send_timeout,
            )
            if room and not self.closed:
                self.replies.append(_line(obj))
                cond.notify_all()
                return
        self.drop("not reading its replies")

    def _write_loop(self) -> None:
        server = self.server
        try:
            self._send(
                _line(
                    {
                        "reply": "hello",
                        "protocol": PROTOCOL,
                        "run_dir": str(server.run_dir.resolve()),
                        "pid": os.getpid(),
                        "state": server.state,
                    }
                )
            )
            follower = _LogFollower(server.events_path)
            live = False
            while True:
                with server._cond:
                    generation = server._generation
                    closing = server._closing
                    replies = list(self.replies)
                    self.replies.clear()
                    hanging_up = self.hanging_up  # set with its last reply queued, under this lock
                    server._cond.notify_all()  # a reader waiting for room may go on
                if self.closed:
                    return
                for data in replies:
                    self._send(data)
                if hanging_up:
                    break
                sent = False
                for chunk in follower.read():
                    # Paced: clients replaying a long log in a loop must not take the training's time.
                    wait = server.replay_budget.take(len(chunk))
                    if wait > 0:
                        time.sleep(wait)
                    self._send(chunk)
                    sent = True
                if not live:
                    live = True  # reached the end of the log as it was: the history is out
                    self._send(_line({"reply": "live", "state": server.state}))
                if closing and not sent:
                    with server._cond:
                        if not self.replies:
                            break
                    continue
                if sent or replies:
                    continue

                def woken(seen: int = generation) -> bool:
                    return bool(
                        server._generation != seen
                        or self.replies
                        or server._closing
                        or self.closed
                        or self.peer_done
                    )

                with server._cond:
                    if self.peer_done and not self.replies:
                        break
                    server._cond.wait_for(woken, timeout=1.0)
            if not self.peer_done and not self.hanging_up:
                self._send(_line({"reply": "bye", "state": server.state}))
            self.drop(None)
        except TimeoutError:
            self.drop(f"not reading for {server.send_timeout:g} s")
        except OSError:
            self.drop(None)

    def _send(self, data: bytes) -> None:
        self.conn.sendall(data)

    # -- reading ---------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            self._read_lines()
        finally:
            # The client closed its side (or this thread failed): the writer sends the replies
            # still owed, then hangs up too, so the slot is always released.
            with self.server._cond:
                self.peer_done = True
                self.server._cond.notify_all()

    def _read_lines(self) -> None:
        buf = bytearray()
        try:
            while not self.closed and not self.hanging_up:
                try:
                    data = self.conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                buf += data
                while not self.closed and not self.hanging_up:
                    end = buf.find(b"\n")
                    if end < 0:
                        break
                    if end > MAX_LINE:
                        self.drop(f"line longer than {MAX_LINE} bytes", offence=True)
                        return
                    line = bytes(buf[:end])
                    del buf[: end + 1]
                    self._handle(line)
                if len(buf) > MAX_LINE:
                    self.drop(f"line longer than {MAX_LINE} bytes", offence=True)
                    return
        except OSError:
            pass

    def _hang_up(self, reason: str) -> None:
        """Stop reading a misbehaving client; the writer sends what it is owed and this reason, then
        closes the connection. Counts towards its process's backoff."""
        self.server.dropped += 1
        self.server.backoff.offence(self.pid)
        with self.server._cond:
            self.replies.append(_line({"reply": "refused", "reason": reason, "closing": True}))
            self.hanging_up = True
            self.server._cond.notify_all()

    def _refuse(self, reason: str, request_id: Any = None, bad: bool = True) -> None:
        if bad:
            self._bad += 1
            if self._bad > MAX_BAD_LINES:
                self._hang_up(f"too many bad lines ({MAX_BAD_LINES})")
                return
        reply: dict[str, Any] = {"reply": "refused", "reason": _clip(reason)}
        if request_id is not None:
            reply["id"] = request_id
        self.reply(reply)

    def _handle(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            data = json.loads(line)
        except (
            ValueError,
            RecursionError,
        ):  # bad UTF-8 is a ValueError; deep nesting a RecursionError
            self._refuse("not a JSON object")
            return
        if not isinstance(data, dict):
            self._refuse('a command is one JSON object, e.g. {"kind": "pause"}')
            return
        request_id = data.get("id")
        if not isinstance(
            request_id, str
        ):  # a number is only echoed; the command makes an id of its own
            data.pop("id", None)
        if (
            not isinstance(request_id, _SCALARS)
            or isinstance(request_id, str)
            and len(request_id) > 100
        ):
            request_id = None
        if not self._commands.try_take():
            self._over_rate += 1
            if self._over_rate > MAX_RATE_STRIKES:
                self._hang_up(f"kept sending more than {COMMAND_RATE:g} commands a second")
                return
            self._refuse(
                f"too many commands (at most {COMMAND_RATE:g} a second)", request_id, bad=False
            )
            return
        self._over_rate = 0
        try:
            command = check_command(data)
        except (ValueError, RecursionError) as exc:
            self._refuse(str(exc), request_id)
            return
        state = self.server.state
        if state in FINAL_STATES:
            self._refuse(f"the run has ended ({state})", request_id, bad=False)
            return
        self.server._send(command)
        reply: dict[str, Any] = {"reply": "ack", "command": cmd.to_json(command), "state": state}
        if request_id is not None:
            reply["id"] = request_id
        self.reply(reply)


class _LogFollower:
    """Reads whole new lines of a growing events.jsonl, in large chunks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None
        self._partial = b""

    def read(self) -> Iterator[bytes]:
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")  # held open while the client follows the log
            except FileNotFoundError:
                return
        while True:
            chunk = self._fh.read(READ_CHUNK)
            if not chunk:
                return
            data = self._partial + chunk
            end = data.rfind(b"\n") + 1
            self._partial = data[end:]
            if end:
                yield data[:end]


def serve(trainer: Any) -> ControlServer:
    """Start the control endpoint of `trainer`'s run (call it on the training thread, once the run
    directory is locked)."""
    server = ControlServer(
        trainer.run_dir.path,
        trainer.send,
        lambda: trainer.state,
        unwritten=lambda: trainer.writer.backlog > 0,
    )
    server.start()
    server.unsubscribe = trainer.subscribe(server.notify)
    return server


# -- the client --------------------------------------------------------------------------------


def describe_unreachable(run_dir: str | Path) -> str:
    """Why a run cannot be attached to, as one line."""
    path = Path(run_dir)
    if not is_run_dir(path):
        return f"no such run: {run_dir}"
    status = read_status(path) or {}
    if not lock_held(path):
        state = status.get("state", "ended")
        return f"run is not alive: {run_dir} ({state}{', step ' + str(status['step']) if 'step' in status else ''})"
    return f"run has no control endpoint: {run_dir} (started by an older tui-gan?)"


class ControlClient:
    """A connection to a run's control socket: `next_message()` reads what the server sends."""

    def __init__(self, run_dir: str | Path, timeout: float | None = 5.0) -> None:
        self.run_dir = Path(run_dir)
        path = socket_path(self.run_dir)
        if path is None:
            raise ControlError(describe_unreachable(self.run_dir))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(os.fsencode(str(path)))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                raise ControlError(describe_unreachable(self.run_dir)) from None
            if exc.errno == errno.EACCES:
                raise ControlError(
                    f"{path}: permission denied (the run belongs to another user?)"
                ) from None
            raise ControlError(f"{path}: cannot connect: {exc.strerror or exc}") from None
        self.sock = sock
        self._buf = bytearray()
        self._pos = 0
        self._send_lock = threading.Lock()
        self.hello: dict[str, Any] = {}

    def send(self, command: cmd.Command | dict[str, Any], request_id: Any = None) -> None:
        """Write one command line; OSError when the connection is gone."""
        data = cmd.to_json(command) if isinstance(command, cmd.Command) else dict(command)
        if request_id is not None:
            data["id"] = request_id
        with self._send_lock:
            self.sock.sendall(_line(data))

    def next_message(
        self, timeout: float | None = None, replies_only: bool = False
    ) -> dict[str, Any] | None:
        """The next object the server sent (only replies, skipping events, with `replies_only`);
        None when the server closed; TimeoutError when nothing came within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 1
                if self._pos > 1 << 20 and self._pos * 2 > len(self._buf):
                    del self._buf[: self._pos]
                    self._pos = 0
                if replies_only and not line.startswith(b'{"reply"'):
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    if obj.get("reply") == "hello":
                        self.hello = obj
                    return obj
                continue
            if deadline is None:
                self.sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer from the run")
                self.sock.settimeout(left)
            try:
                data = self.sock.recv(READ_CHUNK)
            except TimeoutError:
                raise TimeoutError("no answer from the run") from None
            except OSError:
                return None
            if not data:
                return None
            del self._buf[: self._pos]
            self._pos = 0
            self._buf += data

    def command(self, command: cmd.Command, timeout: float) -> tuple[bool, str]:
        """Send `command` and wait for the run's answer to its id: (True, detail) or (False, reason).

        TimeoutError when none comes within `timeout` seconds; OSError when the connection fails."""
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        while True:  # the history cannot hold the answer to a new id: skip it unparsed
            message = self.next_message(left(), replies_only=True)
            if message is None:
                return False, "the run ended before it answered"
            if message.get("reply") == "refused":
                return False, str(message.get("reason"))
            if message.get("reply") == "live":
                break
        self.send(command)
        while True:
            message = self.next_message(left())
            if message is None:
                return False, "the run ended before it answered"
            if message.get("reply") == "refused" and (
                message.get("id") == command.id or message.get("closing")
            ):
                return False, str(message.get("reason"))
            if message.get("reply") == "answer" and isinstance(message.get("event"), dict):
                message = message["event"]  # sent ahead of a log that cannot be written
            if message.get("id") != command.id:
                continue  # others' answers and events
            if message.get("kind") == ev.CommandDone.kind:
                return True, str(message.get("detail"))
            if message.get("kind") == ev.CommandRefused.kind:
                return False, str(message.get("reason"))

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
