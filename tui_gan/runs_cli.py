"""The subcommands around runs in other processes: `watch`, `ctl`, `runs` and `train --detach`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from core.errors import UserError

CTL_ACTIONS = ("pause", "resume", "stop", "save", "sample", "set")
CONFIRM_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 120.0  # a stop writes a final checkpoint first
DETACH_WAIT_S = 120.0

# -- watch ---------------------------------------------------------------------------------------


def add_watch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of a running training")


def cmd_watch(args: argparse.Namespace) -> int:
    from tui_gan.watch import run_watch

    return run_watch(args.run_dir)


# -- ctl -----------------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    """A --timeout: a finite number of seconds above 0 (0 would call a command that ran unanswered)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def add_ctl_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of a running training")
    p.add_argument("action", choices=CTL_ACTIONS, help="what to do (stop saves a checkpoint first)")
    from core.config import LIVE_FIELDS

    p.add_argument("changes", nargs="*", metavar="KEY=VALUE",
                   help=f"for set: the hyperparameters to change (live: {', '.join(sorted(LIVE_FIELDS))})")
    p.add_argument("--timeout", type=_seconds, metavar="S",
                   help=f"seconds to wait for the run to confirm (default {CONFIRM_TIMEOUT_S:g}, stop {STOP_TIMEOUT_S:g})")


def _ctl_command(args: argparse.Namespace):  # -> core.commands.Command
    from core import commands as cmd
    from core.config import parse_overrides

    if args.action != "set" and args.changes:
        raise UserError(f"ctl {args.action} takes no KEY=VALUE arguments")
    if args.action == "set":
        if not args.changes:
            raise UserError("ctl set needs KEY=VALUE arguments, e.g. lr_g=1e-4")
        return cmd.SetHyperparams(parse_overrides(args.changes))
    return {
        "pause": cmd.Pause(), "resume": cmd.Resume(), "save": cmd.SaveCheckpoint(), "sample": cmd.SampleNow(),
        "stop": cmd.Stop(checkpoint=True, reason="stop requested by tui-gan ctl"),
    }[args.action]


Verdict = tuple[bool, str]  # (success, one line to print)


def cmd_ctl(args: argparse.Namespace) -> int:
    from core.control import ControlClient, ControlError

    command = _ctl_command(args)
    timeout = args.timeout if args.timeout is not None else (
        STOP_TIMEOUT_S if args.action == "stop" else CONFIRM_TIMEOUT_S)
    try:
        client = ControlClient(args.run_dir)
    except ControlError as exc:
        print(f"tui-gan ctl: {exc}", file=sys.stderr)
        return 1
    try:
        with client:
            ok, line = _ctl_exchange(client, command, args.action, timeout)
    except TimeoutError:
        ok, line = False, f"no answer from the run within {timeout:g} s"
    except OSError as exc:
        ok, line = False, f"connection to the run lost: {exc.strerror or exc}"
    print(line if ok else f"tui-gan ctl: {line}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _ctl_exchange(client, command, action: str, timeout: float) -> Verdict:
    """Send `command` and wait for the run's answer to its id (never judged from alert wording)."""
    ok, text = client.command(command, timeout)
    return (True, text) if ok else (False, f"{action} refused: {text}")


# -- runs ----------------------------------------------------------------------------------------


def add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", nargs="?", default="runs", metavar="ROOT", help="folder of run directories (default runs/)")


def _ago(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "?"


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from core.runs import list_runs

    root = Path(args.root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder (runs are created under runs/ by default)")
    runs = list_runs(root)
    if not runs:
        print(f"no runs under {root}")
        return 0
    colours = {"running": "green", "paused": "yellow", "crashed": "bold red", "failed": "red", "finished": "cyan",
               "unreadable": "bold red"}
    table = Table(title=f"runs under {root}")
    for column in ("name", "preset", "state", "step", "epoch", "loss D", "loss G", "started", "attachable"):
        table.add_column(column, justify="right" if column in ("step", "epoch", "loss D", "loss G") else "left")
    for run in runs:
        style = colours.get(run.state)
        table.add_row(
            run.name, run.preset, f"[{style}]{run.state}[/]" if style else run.state,
            "" if run.step is None else str(run.step), "" if run.epoch is None else str(run.epoch),
            "" if run.loss_d is None else f"{run.loss_d:.4f}", "" if run.loss_g is None else f"{run.loss_g:.4f}",
            _ago(run.started), "yes" if run.attachable else "no",
        )
    console = Console()
    console.print(table)
    for run in runs:
        if run.problem:
            console.print(f"{run.name}: unreadable: {run.problem}", markup=False, highlight=False)
        elif run.note:
            console.print(f"{run.name}: {run.note}", markup=False, highlight=False)
    return 0


# -- train --detach ------------------------------------------------------------------------------


def train_argv(args: argparse.Namespace, run_dir: Path, launcher: bool = True) -> list[str]:
    """`tui-gan train --headless` with `args` in `run_dir`; through torchrun when `args` ask for
    several processes, unless `launcher` is False (the command each of those processes runs)."""
    from tui_gan.launch import launcher_flags

    argv = [sys.executable, "-m", "tui_gan", "train", "--headless", "--run-dir", str(run_dir)]
    if launcher and getattr(args, "nproc_per_node", None):
        argv += launcher_flags(args)
    for flag, value in (("--preset", args.preset), ("--config", args.config), ("--max-steps", args.max_steps),
                        ("--epochs", args.epochs), ("--device", args.device), ("--seed", args.seed),
                        ("--resume", args.resume)):
        if value is not None:
            argv += [flag, str(value)]
    for pair in args.overrides:
        argv += ["--set", pair]
    return argv


def resolve_run_dir(args: argparse.Namespace) -> Path:
    """The run directory a training in other processes will use, decided here so it can be printed
    (and so the processes of a distributed run all get the same one)."""
    from tui_gan.cli import build_config, build_trainer

    if args.run_dir:
        return Path(args.run_dir)
    if not args.resume:
        return Path(build_config(args).default_run_dir())  # checks the config without loading torch
    return Path(build_trainer(args).run_dir.path)


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
