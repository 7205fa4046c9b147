"""Helpers of the serve tests: a tiny headless run with a control socket, and `tui-gan serve` in a
process of its own with the URL it printed."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.runproc import ENV, ROOT, TINY, last_step, tui_gan_argv, wait_for


@contextlib.contextmanager
def headless_run(run_dir: Path, steps: int = 3) -> Iterator[Path]:
    """A tiny headless training (it serves a control socket) once it has trained `steps` steps;
    killed afterwards."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as out:
        proc = subprocess.Popen(
            tui_gan_argv("train", "--headless", *TINY, "--run-dir", run_dir),
            env=ENV,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: last_step(run_dir) >= steps, 90, "the headless run to train")
        yield run_dir
    finally:
        proc.kill()
        proc.wait()


def stop(proc: subprocess.Popen, timeout: float = 20) -> tuple[int, float]:
    """Ctrl+C `proc`: its exit code and the seconds it took (killed after `timeout`)."""
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return code, time.monotonic() - started


@contextlib.contextmanager
def served(logs: Path, *args: object) -> Iterator[tuple[str, subprocess.Popen]]:
    """`tui-gan serve ARGS --port 0` running, with the URL it printed (token included); its
    output goes to files in `logs` (a pipe nobody reads could fill and stall it); stopped
    afterwards if the test did not."""
    out, err = logs / "serve.out", logs / "serve.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(
            tui_gan_argv("serve", *map(str, args), "--port", "0"),
            env=ENV,
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
        )
    try:

        def url() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"tui-gan serve ended ({proc.returncode}): {err.read_text()}")
            found = re.search(r" on (http://\S+)", out.read_text())
            return found[1] if found else None

        yield wait_for(url, 60, "tui-gan serve to print its URL"), proc
    finally:
        stop(proc)
