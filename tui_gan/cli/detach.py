"""`tui-gan train --detach`: the training in a background process of its own session."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from core.errors import UserError
from tui_gan.cli.args import CliError, build_trainer, resolve_run_dir, train_argv

DETACH_WAIT_S = 120.0
FAILED_EXIT_WAIT_S = 10.0  # a run that failed at start exits within moments


def start_detached(args: argparse.Namespace) -> int:
    """Start the training as a background process of its own session; print where it is and how
    to watch it. Its output goes to RUN_DIR/train.log."""
    from core.rundir import lock_held, read_status

    if args.resume:  # a resume that cannot start (nothing to train, a bad checkpoint) says so here
        run_dir = Path(build_trainer(args).run_dir.path).resolve()
    else:
        run_dir = resolve_run_dir(args).resolve()
    if lock_held(run_dir):
        raise UserError(
            f"{run_dir}: in use by a running trainer; `tui-gan watch {run_dir}` attaches to it"
        )
    log_path = run_dir / "train.log"
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
    except OSError as exc:
        raise CliError(
            f"{run_dir}: cannot write the run directory ({exc.strerror or exc})"
        ) from None
    with log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            train_argv(args, run_dir),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,  # its own session: no terminal to lose, no SIGHUP
        )
    deadline = time.monotonic() + DETACH_WAIT_S
    state = "starting"
    while time.monotonic() < deadline and proc.poll() is None:
        status = read_status(run_dir) or {}
        if lock_held(run_dir) and status.get("state") not in (None, "starting", "crashed"):
            state = status["state"]
            break
        time.sleep(0.2)
    if state == "failed":  # it failed right after it started: let it finish saying why
        try:
            proc.wait(FAILED_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() not in (None, 0) or state == "failed":
        lines = log_path.read_text(errors="replace").strip().splitlines()
        why = lines[-1].removeprefix("tui-gan: error: ") if lines else "no output"
        if created and {p.name for p in run_dir.iterdir()} <= {
            log_path.name
        }:  # a run that never began leaves nothing
            shutil.rmtree(run_dir, ignore_errors=True)
            print(f"tui-gan: error: the background training failed at once: {why}", file=sys.stderr)
        else:
            print(
                f"tui-gan: error: the background training failed at once: {why} (log: {log_path})",
                file=sys.stderr,
            )
        return proc.returncode if proc.returncode in (1, 2) else 1
    print(f"training in the background (pid {proc.pid}, {state})")
    print(f"  run directory: {run_dir}")
    print(f"  log:           {log_path}")
    print(f"  watch it:      tui-gan watch {run_dir}")
    print(f"  stop it:       tui-gan ctl {run_dir} stop")
    return 0
