"""The control endpoint: socket privacy, history + live without gap or duplicate, commands and
refusals, misbehaving clients, and a real trainer that a stalled client must not slow down."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from core import commands as cmd
from core import control
from core import events as ev
from core.control import ControlClient, ControlError, socket_path
from tests.fakes import FakeRun, tiny_trainer
from tests.runproc import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fake(tmp_path: Path):
    run = FakeRun(tmp_path / "run")
    yield run
    run.close()


def read_until(client: ControlClient, done, timeout: float = 10.0) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        message = client.next_message(max(0.01, deadline - time.monotonic()))
        if message is None:
            return out
        out.append(message)
        if done(message, out):
            return out


def numbers(messages: list[dict]) -> list[int]:
    return [m["step"] for m in messages if m.get("kind") == "alert"]


# -- where the socket lives ---------------------------------------------------------------------


def test_socket_is_private(fake: FakeRun) -> None:
    path = socket_path(fake.path)
    assert path == fake.path.resolve() / ".control" / "sock"
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_deep_run_dir_gets_a_socket_in_a_private_runtime_dir(tmp_path: Path, monkeypatch) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short, as real runtime dirs are
    runtime.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    run = FakeRun(deep)
    try:
        path = socket_path(deep)
        assert path is not None and path.parent == runtime / "tui-gan"
        assert (deep / ".control" / "sock.path").read_text().strip() == str(path)
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        run.emit(3)
        with ControlClient(deep) as client:
            assert numbers(read_until(client, lambda m, _: m.get("reply") == "live")) == [1, 2, 3]
    finally:
        run.close()
        shutil.rmtree(runtime, ignore_errors=True)
    assert not path.exists() and not (deep / ".control" / "sock.path").exists()


# -- the stream ------------------------------------------------------------------------------------


def test_history_then_live_without_gap_or_duplicate(fake: FakeRun) -> None:
    fake.emit(200)
    stop = threading.Event()

    def trainer() -> None:  # keeps logging while the client connects and replays
        while not stop.is_set() and fake.n < 3000:
            fake.emit(10)
            time.sleep(0.001)

    writer = threading.Thread(target=trainer)
    writer.start()
    try:
        with ControlClient(fake.path) as client:
            messages = read_until(client, lambda m, out: m.get("step") == 3000)
    finally:
        stop.set()
        writer.join()
    assert messages[0]["reply"] == "hello" and messages[0]["protocol"] == control.PROTOCOL
    assert numbers(messages) == list(range(1, 3001))
    assert sum(m.get("reply") == "live" for m in messages) == 1


def test_commands_are_acked_and_forwarded_with_their_ids(fake: FakeRun) -> None:
    set_lr = cmd.SetHyperparams(lr_g=1e-4)
    with ControlClient(fake.path) as client:
        client.send(
            cmd.Pause(), request_id=7
        )  # a number is echoed; the command gets an id of its own
        client.send(set_lr)
        client.send({"kind": "stop", "checkpoint": True})
        acks = [
            m
            for m in read_until(
                client, lambda m, out: sum(x.get("reply") == "ack" for x in out) == 3
            )
            if m.get("reply") == "ack"
        ]
    assert acks[0]["id"] == 7 and acks[0]["command"]["kind"] == "pause"
    assert acks[1]["id"] == set_lr.id and acks[1]["command"]["id"] == set_lr.id
    assert fake.commands == [cmd.Pause(), set_lr, cmd.Stop(checkpoint=True)]
    assert fake.commands[1].id == set_lr.id  # the command's id went through unchanged
    assert len({c.id for c in fake.commands}) == 3


def test_two_clients_see_the_same_events(fake: FakeRun) -> None:
    fake.emit(5)
    with ControlClient(fake.path) as a, ControlClient(fake.path) as b:
        for client in (a, b):
            read_until(client, lambda m, _: m.get("reply") == "live")
        fake.emit(5)
        got_a = read_until(a, lambda m, _: m.get("step") == 10)
        got_b = read_until(b, lambda m, _: m.get("step") == 10)
    assert numbers(got_a) == numbers(got_b) == [6, 7, 8, 9, 10]


def test_commands_refused_once_the_run_has_ended(fake: FakeRun) -> None:
    fake.state = ev.FINISHED
    with ControlClient(fake.path) as client:
        client.send(cmd.Pause(), request_id=1)
        reply = read_until(client, lambda m, _: m.get("id") == 1)[-1]
    assert reply["reply"] == "refused" and "ended" in reply["reason"]
    assert fake.commands == []


def test_close_delivers_the_last_events_then_hangs_up(fake: FakeRun) -> None:
    with ControlClient(fake.path) as client:
        read_until(client, lambda m, _: m.get("reply") == "live")
        fake.emit(3)
        fake.server.close(timeout=2.0)
        rest = read_until(client, lambda m, _: False)
    assert numbers(rest) == [1, 2, 3] and rest[-1]["reply"] == "bye"
    assert socket_path(fake.path) is None


# -- misbehaving clients ---------------------------------------------------------------------------


def raw_client(run: FakeRun) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(socket_path(run.path)))
    return sock


def replies(sock: socket.socket, count: int) -> list[dict]:
    out, buf = [], b""
    while len(out) < count:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\n")
        # Count answers only: hello and live are replies too and may share a read with them.
        out += [r for r in map(json.loads, lines) if r.get("reply") in ("refused", "ack")]
    return out


def test_malformed_lines_are_refused_with_a_reason(fake: FakeRun) -> None:
    with raw_client(fake) as sock:
        sock.sendall(
            b'not json\n[1]\n{"kind": "explode"}\n{"kind": "stop", "checkpoint": "yes"}\n'
            b'{"kind": "set_hyperparams", "changes": {"lr_g": [1]}}\n\xff\xfe\n{"kind": "pause"}\n'
        )
        got = replies(sock, 7)
    reasons = [r.get("reason", "") for r in got]
    assert [r["reply"] for r in got] == ["refused"] * 6 + ["ack"]
    assert "not a JSON object" in reasons[0] and "one JSON object" in reasons[1]
    assert "unknown command 'explode'" in reasons[2] and "checkpoint must be bool" in reasons[3]
    assert "lr_g" in reasons[4]
    assert fake.commands == [cmd.Pause()]


def test_oversized_line_is_refused_and_the_client_dropped(fake: FakeRun) -> None:
    with raw_client(fake) as sock:
        try:
            sock.sendall(b"x" * (control.MAX_LINE + 10))
        except OSError:
            pass
        got = replies(sock, 1)
    assert got and got[0]["reply"] == "refused" and "longer than" in got[0]["reason"]
    with ControlClient(fake.path) as client:  # the server is fine
        client.send(cmd.Resume(), request_id=2)
        assert read_until(client, lambda m, _: m.get("id") == 2)[-1]["reply"] == "ack"


def test_flooding_client_is_rate_limited_then_dropped(fake: FakeRun) -> None:
    with raw_client(fake) as sock:
        sock.sendall(b'{"kind": "sample_now"}\n' * 500)
        got = replies(sock, 500)
    acked = sum(r["reply"] == "ack" for r in got)
    assert control.COMMAND_BURST <= acked < 100  # the burst (plus what refilled meanwhile)
    assert any("too many commands" in r.get("reason", "") for r in got)
    assert len(fake.commands) == acked
    with raw_client(fake) as sock:
        sock.sendall(b"garbage\n" * 1000)
        got = replies(sock, 1000)
    assert len(got) <= control.MAX_BAD_LINES + 1 and "too many bad lines" in got[-1]["reason"]


def test_any_json_value_is_refused_and_the_connection_lives_on(fake: FakeRun) -> None:
    bad = [
        b'{"kind": ["pause"]}',
        b'{"kind": {"a": 1}}',
        b'{"kind": null}',
        b'{"kind": 1e999}',
        b'{"kind": "stop", "checkpoint": {"a": [1]}}',
        b'{"kind": "pause", "x": [1]}',
        b"[" * 30_000,
        b'{"kind": "' + b"x" * 60_000 + b'"}',
    ]
    with raw_client(fake) as sock:
        sock.sendall(b"\n".join(bad) + b'\n{"kind": "pause", "id": 5}\n')
        got = replies(sock, len(bad) + 1)
    assert [r["reply"] for r in got] == ["refused"] * len(bad) + ["ack"], got
    assert got[-1]["id"] == 5 and fake.commands == [cmd.Pause()]
    assert all(len(r["reason"]) < 400 for r in got[:-1])  # a refusal does not echo 60 kB back


def test_slots_are_released_when_clients_go(fake: FakeRun) -> None:
    socks = [raw_client(fake) for _ in range(control.MAX_CLIENTS)]  # every slot
    for sock in socks:
        sock.sendall(b'{"kind": ["pause"]}\n')
        assert replies(sock, 1)[0]["reply"] == "refused"
        sock.close()
    wait_for(lambda: fake.server.clients() == 0, 10, "the slots to be released")
    with ControlClient(fake.path) as client:
        client.send(cmd.Resume(), request_id=3)
        assert read_until(client, lambda m, _: m.get("id") == 3)[-1]["reply"] == "ack"


def test_a_client_that_keeps_flooding_is_dropped_then_backed_off(fake: FakeRun) -> None:
    for _ in range(2):  # the first drop costs nothing; the second backs the process off
        with raw_client(fake) as sock:
            sock.sendall(b'{"kind": "resume"}\n' * 2000)
            got = replies(sock, 2000)
        assert len(got) < 2 * control.COMMAND_BURST + 20 and got[-1].get("closing"), got[-1]
        assert "commands a second" in got[-1]["reason"]
    with raw_client(fake) as sock:
        got = replies(sock, 1)
    assert "backed off" in got[0]["reason"]


def test_a_process_reconnecting_in_a_loop_is_backed_off(fake: FakeRun) -> None:
    seen = []
    for _ in range(control.MAX_RECONNECTS + 1):
        with raw_client(fake) as sock:
            seen.append(sock.recv(4096))
    assert b'"hello"' in seen[0] and b"reconnecting in a loop" in seen[-1]


def test_history_replay_is_paced(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(control, "REPLAY_RATE", 2 << 20)
    monkeypatch.setattr(control, "REPLAY_BURST", 256 << 10)
    run = FakeRun(tmp_path / "run")
    try:
        for i in range(3000):  # 3000 × ~1 kB: about 3 MB of history
            run.log.write(ev.Alert("info", "x" * 1000, i))
        size = (run.path / "events.jsonl").stat().st_size
        t0 = time.perf_counter()
        with ControlClient(run.path) as client:
            read_until(client, lambda m, _: m.get("reply") == "live")
        took = time.perf_counter() - t0
    finally:
        run.close()
    assert took > 0.8 * (size - (256 << 10)) / (2 << 20), (size, took)


def test_client_that_stops_reading_is_dropped_without_blocking_the_trainer(tmp_path: Path) -> None:
    run = FakeRun(tmp_path / "run", send_timeout=0.5)
    try:
        run.emit(100)
        with raw_client(run):  # connects, never reads
            t0 = time.perf_counter()
            run.emit(20_000)  # ~2 MB: far more than the socket buffers hold
            spent = time.perf_counter() - t0
            deadline = time.monotonic() + 10
            while run.server.dropped == 0 and time.monotonic() < deadline:
                run.emit(10)
                time.sleep(0.05)
        assert run.server.dropped == 1
        t0 = time.perf_counter()
        run.emit(20_000)
        alone = time.perf_counter() - t0
        assert spent < 3 * alone + 0.5, (spent, alone)  # logging never waited for the client
    finally:
        run.close()


def test_unreachable_runs_are_named(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no such run"):
        ControlClient(tmp_path / "nothing")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "status.json").write_text('{"state": "finished", "step": 9, "epoch": 1}')
    with pytest.raises(ControlError, match=r"not alive.*finished, step 9"):
        ControlClient(tmp_path / "old")


# -- with the real trainer ------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core box more only fight each other (and other tests)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def steps_per_second(trainer, seconds: float) -> float:
    start, t0 = trainer.step, time.perf_counter()
    time.sleep(seconds)
    return (trainer.step - start) / (time.perf_counter() - t0)


@pytest.mark.slow
def test_real_trainer_two_watchers_and_a_stalled_client(tmp_path: Path, one_thread) -> None:
    from tui_gan.app.remote import RemoteSession

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # A long history from an earlier part of the run: a stalled client chokes on it at once.
    with open(run_dir / "events.jsonl", "w") as fh:
        fh.writelines(
            json.dumps(ev.to_json(ev.Alert("info", f"old {i}" + "." * 500, i))) + "\n"
            for i in range(4000)
        )
    trainer = tiny_trainer(run_dir)
    trainer.start()
    try:
        wait_for(lambda: trainer.step >= 20, what="training to run")
        trainer.control.send_timeout = 1.0
        baseline = steps_per_second(trainer, 1.5)
        stalled = raw_client_for(run_dir)  # never reads
        try:
            with_stalled = steps_per_second(trainer, 1.5)
            wait_for(lambda: trainer.control.dropped >= 1, 10, "the stalled client to be dropped")
        finally:
            stalled.close()
        assert with_stalled > 0.5 * baseline, (baseline, with_stalled)

        a, b = RemoteSession(run_dir), RemoteSession(run_dir)
        try:
            assert a.live.wait(20) and b.live.wait(20)
            a.send(cmd.Pause())
            wait_for(lambda: trainer.state == ev.PAUSED, what="pause")
            held = trainer.step
            b.send(cmd.SetHyperparams(lr_g=0.0005))
            b.send(cmd.Resume())
            wait_for(lambda: trainer.step >= held + 3, what="steps after resume")
            time.sleep(0.3)
            seen_a, seen_b = a.events(), b.events()
        finally:
            a.close()
            b.close()
        common = min(len(seen_a), len(seen_b))  # drained a moment apart: one may have a step more
        assert [ev.to_json(e) for e in seen_a[:common]] == [ev.to_json(e) for e in seen_b[:common]]
        kinds = [e.kind for e in seen_a]
        assert kinds.count("alert") >= 4000 and "run_started" in kinds  # the whole history
        paused = [e for e in seen_a if isinstance(e, ev.StateChanged) and e.state == ev.PAUSED]
        assert paused and paused[0].step == held
        after = [e for e in seen_a if isinstance(e, ev.StepMetrics) and e.step > held]
        assert after and all(e.lr_g == 0.0005 for e in after)
        assert trainer.state == ev.RUNNING  # detaching left it training
    finally:
        trainer.send(cmd.Stop())
        trainer.join(30)
    assert trainer.control.clients() == 0 and socket_path(run_dir) is None


def raw_client_for(run_dir: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(socket_path(run_dir)))
    return sock
