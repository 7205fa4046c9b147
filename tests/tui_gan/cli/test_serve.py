"""`tui-gan serve`: what it refuses before serving, and a real server in its own process: the
token on every request, 127.0.0.1 only, a port in use."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.runproc import tui_gan
from tests.tui_gan.web.serving import served, stop
from tui_gan.cli import serve
from tui_gan.cli.main import main
from tui_gan.cli.serve import served_command


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code or 0)


def test_a_run_is_served_as_its_dashboard_and_a_folder_as_the_compare_screen(tmp_path: Path):
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "config.toml").write_text('preset = "ring8-mlp"\n')
    assert served_command(run)[1:] == ["-m", "tui_gan", "watch", str(run)]
    assert served_command(run.parent)[1:] == ["-m", "tui_gan", "compare", str(run.parent)]
    assert served_command(run)[0] == sys.executable


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["serve", "{tmp}/nope"], 2, "nope: no such run or folder of runs"),
        (["serve", "{tmp}/dead"], 1, "run is not alive"),
        (["serve", "{tmp}", "--port", "70000"], 2, "--port 70000: a port is 0 to 65535"),
        (["serve", "{tmp}", "--port", "x"], 2, "invalid int value"),
    ],
)
def test_what_every_browser_session_would_fail_on_is_refused_first(
    argv: list[str], code: int, says: str, tmp_path: Path, capsys
):
    (tmp_path / "dead").mkdir()
    (tmp_path / "dead" / "status.json").write_text('{"state": "finished", "step": 5}')
    assert run_main([a.format(tmp=tmp_path) for a in argv]) == code
    err = capsys.readouterr().err
    assert says in err and err.count("\n") <= 2 and "Traceback" not in err  # argparse adds usage


def test_without_textual_serve_one_line_says_how_to_install_it(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    # None in sys.modules fails any import of it, also of a submodule another test imported
    for name in [m for m in sys.modules if m.startswith("textual_serve.")] + ["textual_serve"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "tui_gan.web.server", raising=False)
    # should the import succeed after all, fail instead of serving until the timeout
    monkeypatch.setattr(serve.asyncio, "run", lambda _: pytest.fail("served without textual-serve"))
    assert run_main(["serve", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'tui-gan[serve]'" in err


def request(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


WEBSOCKET = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def listeners(port: int) -> list[str]:
    """The local addresses (hex, as the kernel lists them) of the sockets listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_server_wants_its_token_listens_on_loopback_and_stops_on_ctrl_c(tmp_path: Path):
    root = tmp_path / "runs"
    root.mkdir()
    with served(tmp_path, root) as (url, proc):
        parts = urlsplit(url)
        token = parts.query.removeprefix("token=")
        assert parts.hostname == "127.0.0.1" and parts.path == "/" and len(token) >= 40
        for path in ("/", "/?token=wrong", "/static/js/textual.js", "/download/x", "/ws"):
            assert request(url, path).status == 403, path
        assert request(url, "/ws", WEBSOCKET).status == 403  # the handshake itself
        page = request(url, f"/?token={token}")
        assert page.status == 200
        cookie = page.getheader("Set-Cookie", "").split(";")[0]
        assert token in cookie
        assert request(url, "/static/js/textual.js", {"Cookie": cookie}).status == 200

        if Path("/proc/net/tcp").exists():
            assert listeners(parts.port) == ["0100007F"]  # 127.0.0.1 alone, no IPv6 or wildcard

        taken = tui_gan("serve", root, "--port", parts.port)
        assert taken.returncode == 1 and taken.stdout == ""
        assert taken.stderr == (
            f"tui-gan: error: port {parts.port} on 127.0.0.1 is in use: choose another with"
            " --port (0: any free one)\n"
        )
        code, seconds = stop(proc)
        assert code == 0 and seconds < 10
