"""`tui-gan train --detach`: the training in a background process of its own session."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from core.errors import UserError
from tui_gan.cli.args import resolve_run_dir, train_argv

DETACH_WAIT_S = 120.0


def start_detached(args: argparse.Namespace) -> int:
    """Start the training as a background process of its own session; print where it is and how
    to watch it. Its output goes to RUN_DIR/train.log."""
    from core.rundir import lock_held, read_status

    run_dir = resolve_run_dir(args).resolve()
    if lock_held(run_dir):
        raise UserError(f"{run_dir}: in use by a running trainer; `tui-gan watch {run_dir}` attaches to it")
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "train.log"
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            train_argv(args, run_dir), stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,  # its own session: no terminal to lose, no SIGHUP
        )
    deadline = time.monotonic() + DETACH_WAIT_S
    state = "starting"
    while time.monotonic() < deadline and proc.poll() is None:
        status = read_status(run_dir) or {}
        if lock_held(run_dir) and status.get("state") not in (None, "starting", "crashed"):
            state = status["state"]
            break
        time.sleep(0.2)
    if proc.poll() not in (None, 0):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        print("\n".join(tail), file=sys.stderr)
        raise UserError(f"the background training exited at once (code {proc.returncode}); see {log_path}")
    print(f"training in the background (pid {proc.pid}, {state})")
    print(f"  run directory: {run_dir}")
    print(f"  log:           {log_path}")
    print(f"  watch it:      tui-gan watch {run_dir}")
    print(f"  stop it:       tui-gan ctl {run_dir} stop")
    return 0
