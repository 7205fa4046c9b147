"""textual-serve's server behind a random token, as Jupyter does: every request needs it.

On a shared GPU box every user can reach 127.0.0.1, so the address alone protects nothing. The
URL printed at start carries the token (`/?token=…`); the first page loaded with it sets a
cookie, which the browser sends with the page's static files and its websocket (textual-serve's
page builds the websocket URL by appending `?width=…`, so the token cannot ride in the query
there). A websocket from a page of another origin is refused even with the cookie.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import ipaddress
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from core.errors import UserError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORBIDDEN = "403 Forbidden: open the URL that `tui-gan serve` printed (it carries ?token=…)\n"


class TokenServer(Server):
    """Serves `command` (one process per browser session) to holders of `token` only."""

    def __init__(self, command: str, *, title: str, token: str | None = None) -> None:
        super().__init__(command, title=title)
        self.token = token or secrets.token_urlsafe(32)
        # Cookies are shared by every port of a host: a name of its own per token keeps two
        # servers (or two ssh tunnels) from overwriting each other's.
        self.cookie_name = "tui-gan-" + hashlib.sha256(self.token.encode()).hexdigest()[:12]
        self._sessions: set[asyncio.Task[Any]] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._require_token)
        return app

    def _authorized(self, request: web.Request) -> bool:
        given = request.query.get("token") or request.cookies.get(self.cookie_name) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def _require_token(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request) or not _same_origin(request):
            raise web.HTTPForbidden(text=FORBIDDEN)
        response = await handler(request)
        # The page must not be framed by another page that could click on it.
        if not response.prepared:
            response.headers["X-Frame-Options"] = "DENY"
            if "token" in request.query:
                response.set_cookie(
                    self.cookie_name, self.token, httponly=True, samesite="Strict", path="/"
                )
        return response

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        # textual-serve builds these from its own host and port; from the request's Host they
        # also work through `ssh -L 9000:localhost:8000` and with `--host 0.0.0.0`.
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{ws_scheme}://{request.host}/ws",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self._sessions.discard(task)

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: textual-serve prints its logo here; `serve` prints the URL once bound."""

    async def on_shutdown(self, app: web.Application) -> None:
        """End the browser sessions: each tells its app to quit and waits for it (aiohttp would
        otherwise wait for the browsers to hang up)."""
        for task in list(self._sessions):
            task.cancel()


def _same_origin(request: web.Request) -> bool:
    """A browser names the page behind a websocket in Origin; only this server's own may open one."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return True
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def url_host(host: str) -> str:
    """How a browser names `host` in a URL: the machine's name for a wildcard, IPv6 in brackets."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    server: TokenServer, host: str, port: int, on_ready: Callable[[str, int], None]
) -> None:
    """Listen on host:port (0: any free port) until SIGINT or SIGTERM; `on_ready(url, port)` once
    bound. A port in use or an address that cannot be bound is a UserError."""
    runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is in use: choose another with --port (0: any free one)"
                ) from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0][1]
        on_ready(f"http://{url_host(host)}:{bound}/?token={server.token}", bound)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        # Closes the browsers' websockets, which tells each session's app to quit.
        await runner.cleanup()
