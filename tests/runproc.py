"""Helpers of the tests that run `tui-gan` in real processes: tiny settings, waiting, reading runs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# One torch thread each: the box has 2 shared cores; more threads only fight.
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONPATH": str(ROOT),
    "COLUMNS": "200",
    "TERM": "xterm-256color",
}
# A constant, known lr whatever the preset's tuning: the tests read exact lr values from the events.
TINY = [
    "--preset",
    "mnist-dcgan",
    "--set",
    "width=4",
    "--set",
    "batch_size=8",
    "--set",
    "subset=64",
    "--set",
    "n_samples=4",
    "--set",
    "sample_every=0",
    "--set",
    "checkpoint_every=0",
    "--set",
    "lr_g=2e-4",
    "--set",
    "lr_d=2e-4",
    "--set",
    "lr_decay=none",
    "--set",
    "log_every=1",
    "--device",
    "cpu",
    "--epochs",
    "100000",
]


# ring8-mlp with 1,000 points in batches of 100: 10 steps an epoch, each a fraction of a second.
TOY = ["--preset", "ring8-mlp", "--set", "subset=1000", "--set", "batch_size=100", "--set", "sample_every=0",
       "--set", "eval_every=0", "--device", "cpu"]  # fmt: skip


def tui_gan_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_gan", *map(str, args)]


def tui_gan(*args: Any, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `tui-gan ARGS` to its end, capturing its output."""
    return subprocess.run(
        tui_gan_argv(*args),
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def events(run_dir: Path) -> list[dict]:
    return read_jsonl(run_dir / "events.jsonl")


def read_jsonl(path: Path) -> list[dict]:
    """The whole lines of a JSON-lines file another process is appending to."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # the line being written
    return out


def steps(run_dir: Path) -> list[dict]:
    return [e for e in events(run_dir) if e["kind"] == "step"]


def last_step(run_dir: Path) -> int:
    found = steps(run_dir)
    return found[-1]["step"] if found else 0


@contextlib.contextmanager
def headless_run(run_dir: Path, steps: int = 3) -> Iterator[subprocess.Popen]:
    """A tiny headless training in another process (serving its control socket), once it has
    trained `steps` steps; killed afterwards if it still runs. Its output goes to RUN_DIR.log."""
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
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main_in_a_new_process(argv: list[Any]) -> tuple[object, bool, str]:
    """`tui-gan ARGV` run by its main() in a new interpreter: the exit code, whether torch was
    imported by the end, and what it wrote to stderr."""
    script = (
        "import json, sys\n"
        "from tui_gan.cli.main import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules}), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, argv)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = json.loads(out.stderr.strip().splitlines()[-1])
    return result["code"], result["torch"], out.stderr
