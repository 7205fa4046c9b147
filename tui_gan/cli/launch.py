"""`tui-gan train --nproc-per-node N`: the run in N processes a machine, through torchrun's launcher."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from tui_gan.cli.args import resolve_run_dir, train_argv
from tui_gan.cli.headless import detach_from_terminal


def torchrun_argv(args: argparse.Namespace, worker_args: list[str]) -> list[str]:
    """torchrun's command line for `python -m tui_gan WORKER_ARGS` in every process."""
    argv = [
        "--nproc-per-node",
        str(args.nproc_per_node),
        "--nnodes",
        str(args.nnodes),
        "--max-restarts",
        "0",
    ]
    if args.rdzv_endpoint:
        # torchrun's static rendezvous: machine R gets ranks R*N.., so machine 0 holds rank 0.
        argv += ["--node-rank", str(args.node_rank), "--rdzv-endpoint", args.rdzv_endpoint]
    else:
        argv += ["--standalone"]  # one machine: torchrun picks a free port itself
    return [*argv, "--module", "tui_gan", *worker_args]


def launch(args: argparse.Namespace) -> int:
    """Run the training under torchrun's elastic agent in this process; 0 when it finished or stopped.

    Ctrl-C and SIGTERM reach every rank through the agent, and rank 0's stop (with a checkpoint)
    ends all ranks at one step. When a rank dies, the agent ends the others; the failure, naming
    the rank, lands in status.json unless rank 0 already recorded it.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from core.rundir import read_status

    run_dir = resolve_run_dir(args).resolve()  # decided once here, so every rank agrees
    worker_args = train_argv(args, run_dir, launcher=False)[3:]
    # A dropped SSH link must not end the run: the agent handles the other signals, not SIGHUP,
    # which only points output that went to the vanished terminal at /dev/null.
    tty_fds = tuple(fd for fd in (1, 2) if os.isatty(fd))
    signal.signal(
        signal.SIGHUP,
        (lambda signum, frame: detach_from_terminal(tty_fds)) if tty_fds else signal.SIG_IGN,
    )
    os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"] = "SIGTERM,SIGINT,SIGQUIT"
    # A failed rank is named in one line of ours below; the agent's own E-lines only repeat it.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        # torch.distributed.run leaves run() and parse_args() unannotated.
        run(parse_args(torchrun_argv(args, worker_args)))  # type: ignore[no-untyped-call]
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        how = (
            f"signal {failure.signal_name()}"
            if failure.exitcode < 0
            else f"exit code {failure.exitcode}"
        )
        message = (
            f"rank {rank} (local rank {failure.local_rank}, pid {failure.pid}) ended with {how}"
        )
        if args.node_rank == 0:
            record_failure(run_dir, message)
        print(f"tui-gan: error: {message}; the run is over", file=sys.stderr)
        return 1
    except SignalException as exc:
        print(
            f"tui-gan: {signal.Signals(exc.sigval).name}: the ranks were stopped", file=sys.stderr
        )
    state = (read_status(run_dir) or {}).get("state") if args.node_rank == 0 else "finished"
    return 0 if state in ("finished", "stopped") else 1


def record_failure(run_dir: Path, message: str) -> None:
    """Mark the run failed with `message`, unless rank 0 already ended it with a failure of its own."""
    from core import events as ev
    from core.rundir import EventLog, RunDir, read_status, write_status

    status = read_status(run_dir)
    if status is None or status.get("state") in ev.FINAL_STATES:
        return
    step = int(status.get("step") or 0)
    log = EventLog(RunDir(run_dir).events)
    try:
        log.write(ev.RunFailed(message, step))
        log.write(ev.StateChanged(ev.FAILED, message, step))
    finally:
        log.close()
    write_status(run_dir, ev.FAILED, step, int(status.get("epoch") or 0), error=message)
