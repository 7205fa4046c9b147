"""Fuzzing the control protocol: any JSON value or bytes a line, sent to a real server, is answered
or drops its client, never raises in the server's threads, and leaves no slot taken; with the real
trainer behind the server, training keeps stepping."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import commands as cmd
from core import control
from core import events as ev
from core.control import socket_path
from tests.fakes import FakeRun, tiny_trainer
from tests.runproc import wait_for

pytestmark = pytest.mark.timeout(120)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
KINDS = [kind for kind in cmd.COMMAND_TYPES if kind != "stop"]  # a stop would end the trainer's run
HPARAM_KEYS = ["lr_g", "lr_d", "beta1", "beta2", "r1_gamma", "width", "nope", ""]
# Objects that look like commands reach the trainer itself, not only the server's checks.
commands_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(KINDS)},
    optional={
        "changes": st.dictionaries(st.sampled_from(HPARAM_KEYS), json_values, max_size=3)
        | json_values,
        "id": json_values,
        "checkpoint": json_values,
        "reason": json_values,
    },
)
lines_of_json = st.one_of(json_values, commands_like).map(lambda v: json.dumps(v).encode())
lines = st.lists(st.binary(max_size=200) | lines_of_json, min_size=1, max_size=12)


@pytest.fixture
def thread_errors() -> Iterator[list[BaseException]]:
    """Exceptions that escape any thread while the test runs."""
    caught: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: caught.append(args.exc_value)  # type: ignore[assignment]
    yield caught
    threading.excepthook = previous


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """One process makes every connection here, as fast as it can: keep the backoff for reconnect
    loops and the accept rate out of the way."""
    monkeypatch.setattr(control, "MAX_RECONNECTS", 10**6)
    monkeypatch.setattr(control, "ACCEPT_RATE", 10.0**6)
    monkeypatch.setattr(control, "MAX_BAD_LINES", 10**6)


def exchange(run_dir: Path, payload: list[bytes]) -> list[dict[str, Any]]:
    """Send the lines, close our side, and read the server's answers (not events) to the end."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(socket_path(run_dir)))
    with sock:
        sock.sendall(b"".join(line + b"\n" for line in payload))
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    answers = []
    for line in data.splitlines():
        message = json.loads(line)  # the server only ever sends whole JSON objects
        assert isinstance(message, dict)
        if message.get("reply") in ("ack", "refused"):
            answers.append(message)
    return answers


def expected_answers(payload: list[bytes]) -> int:
    return sum(1 for block in payload for line in block.split(b"\n") if line.strip())


def check_answers(payload: list[bytes], answers: list[dict[str, Any]]) -> None:
    if answers and answers[-1].get("closing"):
        return  # dropped, with the reason
    assert len(answers) == expected_answers(payload), answers
    assert all(a["reply"] == "ack" or isinstance(a.get("reason"), str) for a in answers)


@pytest.mark.slow
def test_fuzzed_lines_to_a_stand_in_run(tmp_path: Path, thread_errors: list, lenient: None) -> None:
    run = FakeRun(tmp_path / "run")

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=lines)
    def one_client(payload: list[bytes]) -> None:
        check_answers(payload, exchange(run.path, payload))

    try:
        one_client()
        wait_for(lambda: run.server.clients() == 0, 10, "every slot to be released")
    finally:
        run.close()
    assert not thread_errors, thread_errors
    assert all(isinstance(c, cmd.Command) for c in run.commands)


@pytest.mark.slow
def test_fuzzed_lines_to_a_real_trainer(tmp_path: Path, thread_errors: list, lenient: None) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    trainer = tiny_trainer(tmp_path / "run")
    trainer.start()
    try:
        wait_for(lambda: trainer.step >= 5 and trainer.control is not None, what="training to run")

        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
        @given(payload=lines)
        def one_client(payload: list[bytes]) -> None:
            check_answers(payload, exchange(trainer.run_dir.path, payload))
            assert trainer.state in (ev.RUNNING, ev.PAUSED), trainer.state

        one_client()
        exchange(trainer.run_dir.path, [b'{"kind": "resume"}'])  # a fuzzed pause may have held it
        held = trainer.step
        wait_for(lambda: trainer.step >= held + 5, what="training to go on after the fuzzing")
        wait_for(lambda: trainer.control.clients() == 0, 10, "every slot to be released")
    finally:
        trainer.send(cmd.Stop())
        trainer.join(30)
        torch.set_num_threads(threads)
    assert not thread_errors, thread_errors
    assert trainer.state == ev.STOPPED, trainer.state


def test_the_fuzz_harness_sees_a_reader_that_raises(
    tmp_path: Path, thread_errors: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks above can fail: a server whose command check raises is caught by them."""

    def broken(data: Any) -> cmd.Command:
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(control, "check_command", broken)
    run = FakeRun(tmp_path / "run")
    try:
        with pytest.raises(Exception):  # noqa: B017 - either the answer or the slot is missing
            check_answers([b'{"kind": "pause"}'], exchange(run.path, [b'{"kind": "pause"}']))
            time.sleep(0.2)
            assert not thread_errors
    finally:
        run.close()
    assert thread_errors and isinstance(thread_errors[0], TypeError)
