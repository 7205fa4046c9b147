"""`tui-gan serve [RUN_DIR]`: the app in a web browser (textual-serve), behind a random token."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import socket
import sys
from pathlib import Path

from core.control import describe_unreachable, socket_path
from core.errors import UsageError, UserError
from core.rundir import is_run_dir, lock_held

DEFAULT_PORT = 8000
INSTALL = (
    "tui-gan serve needs textual-serve: pip install 'tui-gan[serve]' (or pip install textual-serve)"
)


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        nargs="?",
        default="runs",
        metavar="RUN_DIR",
        help="a running run (its dashboard) or a folder of runs (the compare screen); default runs/",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0: any free one)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; reach it with ssh -L)",
    )


def served_command(target: Path) -> list[str]:
    """What each browser session runs: the dashboard attached to a run, the compare screen over a
    folder of runs."""
    subcommand = "watch" if is_run_dir(target) else "compare"
    return [sys.executable, "-m", "tui_gan", subcommand, str(target)]


def check_target(target: Path) -> None:
    """Refuse, before serving, what every browser session would fail on."""
    if not target.is_dir():
        raise UsageError(f"{target}: no such run or folder of runs")
    if is_run_dir(target) and not (lock_held(target) and socket_path(target)):
        raise UserError(
            f"{describe_unreachable(target)}; `tui-gan serve {target.parent}` serves the runs beside it"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: a port is 0 to 65535")
    target = Path(args.target).resolve()
    check_target(target)
    try:
        from tui_gan.web.server import TokenServer, is_loopback, serve
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("textual_serve", "aiohttp", "aiohttp_jinja2"):
            raise UserError(INSTALL) from None
        raise
    what = "the dashboard of" if is_run_dir(target) else "the runs under"
    server = TokenServer(shlex.join(served_command(target)), title=f"tui-gan: {target.name}")

    def ready(url: str, port: int) -> None:
        print(f"tui-gan serve: {what} {target} on {url}")
        if is_loopback(args.host):
            print(
                f"  from another machine: ssh -L {port}:localhost:{port} {socket.gethostname()}, then open the URL"
            )
        else:
            print(
                f"  warning: listening on {args.host}: anyone who can reach it and has the token can"
                " control the run, over plain unencrypted HTTP",
                file=sys.stderr,
            )
        print("  Ctrl+C stops serving (the runs keep training)", flush=True)

    asyncio.run(serve(server, args.host, args.port, ready))
    return 0
