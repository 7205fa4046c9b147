"""The token in front of textual-serve, over real HTTP to an in-process server (no app is started:
every request here is refused before a websocket could launch one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tui_gan.web.server import TokenServer, is_loopback, url_host

TOKEN = "s3cret-token"
PATHS = ["/", "/static/js/textual.js", "/static/", "/download/abc", "/ws", "/elsewhere"]


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    server = TokenServer("false", title="tui-gan: test", token=TOKEN)
    async with TestClient(TestServer(await server._make_app())) as test_client:
        yield test_client


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], "é"])
async def test_every_path_without_the_token_is_forbidden(client: TestClient, token: str | None):
    for path in PATHS:
        response = await client.get(path, params=None if token is None else {"token": token})
        assert response.status == 403, path
        assert "?token=" in await response.text()
    assert not client.session.cookie_jar.filter_cookies(client.make_url("/"))


async def test_the_token_opens_the_page_and_its_cookie_the_files_it_loads(client: TestClient):
    page = await client.get("/", params={"token": TOKEN})
    assert page.status == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    cookie = page.headers["Set-Cookie"]
    assert TOKEN in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # the static files and websocket the page names are on the host the browser asked for
    html = await page.text()
    host = client.make_url("/").authority
    assert f'data-session-websocket-url="ws://{host}/ws"' in html
    assert f'src="http://{host}/static/js/textual.js"' in html
    script = await client.get("/static/js/textual.js")  # with the cookie alone
    assert script.status == 200 and "WebSocket" in await script.text()


async def test_the_page_names_the_host_it_was_asked_for(client: TestClient):
    # through `ssh -L 9000:localhost:8000` the browser's Host is localhost:9000
    page = await client.get("/", params={"token": TOKEN}, headers={"Host": "localhost:9000"})
    assert 'data-session-websocket-url="ws://localhost:9000/ws"' in await page.text()


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://127.0.0.1:1", "null", "http://localhost"]
)
async def test_a_websocket_from_another_page_is_refused_even_with_the_cookie(
    client: TestClient, origin: str
):
    assert (await client.get("/", params={"token": TOKEN})).status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers={"Origin": origin})
    assert refused.value.status == 403


async def test_a_websocket_without_the_cookie_is_refused(client: TestClient):
    host = client.make_url("/").authority
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers={"Origin": f"http://{host}"})
    assert refused.value.status == 403


def test_each_server_has_its_own_random_token_and_cookie():
    first, second = TokenServer("false", title="a"), TokenServer("false", title="b")
    assert first.token != second.token and len(first.token) >= 40
    # cookies ignore the port: two servers on one host must not overwrite each other's
    assert first.cookie_name != second.cookie_name
    assert first.token not in first.cookie_name


def test_addresses():
    assert (url_host("127.0.0.1"), url_host("::1"), url_host("gpu-box")) == (
        "127.0.0.1",
        "[::1]",
        "gpu-box",
    )
    assert url_host("0.0.0.0") not in ("0.0.0.0", "")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("gpu-box")
