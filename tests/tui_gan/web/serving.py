"""Helpers of the serve tests: `tui-gan serve` in a process of its own, with the URL it printed."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.runproc import ENV, ROOT, tui_gan_argv, wait_for


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
