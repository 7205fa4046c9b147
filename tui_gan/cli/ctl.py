"""`tui-gan ctl RUN_DIR ACTION`: pause, resume, stop, save, sample or set hyperparameters of a run in
another process, over its control socket, and wait for the run to confirm."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from core.errors import UserError
from tui_gan.cli.args import CliError

CTL_ACTIONS = ("pause", "resume", "stop", "save", "sample", "set")
CONFIRM_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 120.0  # a stop writes a final checkpoint first


def add_ctl_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of a running training")
    p.add_argument("action", choices=CTL_ACTIONS, help="what to do (stop saves a checkpoint first)")
    p.add_argument("changes", nargs="*", metavar="KEY=VALUE", help="for set: the hyperparameters to change")
    p.add_argument("--timeout", type=float, metavar="S",
                   help=f"seconds to wait for the run to confirm (default {CONFIRM_TIMEOUT_S:g}, stop {STOP_TIMEOUT_S:g})")


def run_ctl(args: argparse.Namespace) -> int:
    """`ctl`, its argument mistakes told apart as usage errors (exit 2) before the run is reached."""
    if args.action == "set" and not args.changes:
        raise CliError("ctl set needs KEY=VALUE arguments, e.g. lr_g=1e-4")
    if args.action != "set" and args.changes:
        raise CliError(f"ctl {args.action} takes no KEY=VALUE arguments")
    return cmd_ctl(args)


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


def _confirmation(action: str) -> Callable[[dict[str, Any], dict[str, Any]], Verdict | None]:
    """A judge of live events after the ack: a verdict once the run shows the command's effect."""

    def judge(event: dict[str, Any], seen: dict[str, Any]) -> Verdict | None:
        kind, state = event.get("kind"), event.get("state")
        message = str(event.get("message", ""))
        if kind == "checkpoint_saved":
            seen["checkpoint"] = event.get("path")
        if action == "pause":
            if kind == "state_changed" and state == "paused":
                return True, f"paused at step {event.get('step')}"
            if kind == "alert" and message == "already paused":
                return True, "already paused"
        elif action == "resume":
            if kind == "state_changed" and state == "running":
                return True, f"running from step {event.get('step')}"
            if kind == "alert" and message == "not paused":
                return True, "not paused"
        elif action == "set":
            if kind == "hparams_changed":
                changes = ", ".join(f"{k}={v}" for k, v in event.get("changes", {}).items())
                return True, f"changed at step {event.get('step')}: {changes}"
            if kind == "alert" and message.startswith("refused set_hyperparams"):
                return False, message
        elif action == "save":
            if kind == "checkpoint_saved" and event.get("reason") == "manual":
                return True, f"checkpoint saved: {event.get('path')}"
            if kind == "alert" and message.startswith("checkpoint at step"):
                return False, message
        elif action == "sample":
            if kind == "samples_saved":
                return True, f"samples saved: {event.get('path')}"
            if kind == "alert" and message.startswith("could not save samples"):
                return False, message
        elif action == "stop" and kind == "state_changed" and state in ("stopped", "finished", "failed"):
            checkpoint = f"; checkpoint {seen['checkpoint']}" if seen.get("checkpoint") else ""
            return state != "failed", f"{state} at step {event.get('step')}{checkpoint}"
        return None

    return judge


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
    while True:  # the history is not ours to judge: skip to the live part
        message = client.next_message(CONFIRM_TIMEOUT_S, replies_only=True)
        if message is None:
            return False, "the run ended before it answered"
        if message.get("reply") == "refused":
            return False, str(message.get("reason"))
        if message.get("reply") == "live":
            break
    client.send(command, request_id=1)
    judge, seen = _confirmation(action), {}
    acked = False
    deadline = time.monotonic() + timeout
    while True:
        try:
            message = client.next_message(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            if acked:
                return True, f"{action}: acknowledged; the run has not shown the effect yet (after {timeout:g} s)"
            raise
        if message is None:
            if action == "stop" and acked:
                return True, "stopped"
            return False, "the run ended before it answered"
        reply = message.get("reply")
        if reply == "refused" and (message.get("id") == 1 or message.get("closing")):
            return False, f"refused: {message.get('reason')}"
        if reply == "ack" and message.get("id") == 1:
            acked = True
        elif reply is None:
            verdict = judge(message, seen)
            if verdict is not None:
                return verdict
