"""`tui-gan ctl RUN_DIR ACTION`: pause, resume, stop, save, sample or set hyperparameters of a run in
another process, over its control socket, and wait for the run to confirm."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tui_gan.cli.args import CliError

if TYPE_CHECKING:  # for annotations only: the functions import core when they run
    from core.commands import Command
    from core.control import ControlClient

CTL_ACTIONS = ("pause", "resume", "stop", "save", "sample", "set")
CONFIRM_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 120.0  # a stop writes a final checkpoint first


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

    p.add_argument(
        "changes",
        nargs="*",
        metavar="KEY=VALUE",
        help=f"for set: the hyperparameters to change (live: {', '.join(sorted(LIVE_FIELDS))})",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help=f"seconds to wait for the run to confirm (default {CONFIRM_TIMEOUT_S:g}, stop {STOP_TIMEOUT_S:g})",
    )


def run_ctl(args: argparse.Namespace) -> int:
    """`ctl`, its argument mistakes told apart as usage errors (exit 2) before the run is reached."""
    if args.action == "set" and not args.changes:
        raise CliError("ctl set needs KEY=VALUE arguments, e.g. lr_g=1e-4")
    if args.action != "set" and args.changes:
        raise CliError(f"ctl {args.action} takes no KEY=VALUE arguments")
    return cmd_ctl(args)


def _ctl_command(args: argparse.Namespace) -> Command:
    from core import commands as cmd
    from core.config import parse_overrides

    if args.action == "set":  # run_ctl has checked the KEY=VALUE arguments
        return cmd.SetHyperparams(parse_overrides(args.changes))
    return {
        "pause": cmd.Pause(),
        "resume": cmd.Resume(),
        "save": cmd.SaveCheckpoint(),
        "sample": cmd.SampleNow(),
        "stop": cmd.Stop(checkpoint=True, reason="stop requested by tui-gan ctl"),
    }[args.action]


Verdict = tuple[bool, str]  # (success, one line to print)


def cmd_ctl(args: argparse.Namespace) -> int:
    from core.control import ControlClient, ControlError

    command = _ctl_command(args)
    timeout = (
        args.timeout
        if args.timeout is not None
        else (STOP_TIMEOUT_S if args.action == "stop" else CONFIRM_TIMEOUT_S)
    )
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


def _ctl_exchange(client: ControlClient, command: Command, action: str, timeout: float) -> Verdict:
    """Send `command` and wait for the run's answer to its id (never judged from alert wording)."""
    ok, text = client.command(command, timeout)
    return (True, text) if ok else (False, f"{action} refused: {text}")
