"""`tui-gan serve` in a real browser: Debian's Chromium, headless, driven by Playwright, on the
dashboard of a real run training in another process.

The terminal in the page draws on a canvas, so its text is not in the DOM: a script that runs
before the page's own catches xterm.js's Terminal as it is built (the only object that sets
`_addonManager`) and the test reads the screen from its buffer, as the user sees it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from core.rundir import lock_held
from tests.runproc import ROOT, events, headless_run, wait_for
from tests.tui_gan.web.serving import served, stop

CHROMIUM = os.environ.get("TUI_GAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Where the screenshot is kept for people to look at (ignored by git).
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, '_addonManager', {
  configurable: true,
  set(value) {
    Object.defineProperty(this, '_addonManager', {value, writable: true, configurable: true});
    window.__terminal = this;
  },
});
"""
SCREEN = """() => {
  const terminal = window.__terminal;
  if (!terminal) return '';
  const lines = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = terminal.buffer.active.getLine(y);
    lines.push(line ? line.translateToString(true) : '');
  }
  return lines.join('\\n');
}"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` (as root) runs this test",
    ),
]


def paused_at(run_dir: Path) -> int | None:
    """The step of the run's pause when its latest state change is one."""
    states = [e for e in events(run_dir) if e["kind"] == "state_changed"]
    return states[-1]["step"] if states and states[-1]["state"] == "paused" else None


def test_the_dashboard_in_chromium_shows_the_run_and_a_key_pauses_it(tmp_path: Path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install 'tui-gan[test]'"
    )
    run_dir = tmp_path / "runs" / "browser-run"
    with (
        headless_run(run_dir),
        served(tmp_path, run_dir) as (url, server),
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.add_init_script(CATCH_TERMINAL)
            assert page.goto(url.split("?")[0]).status == 403  # no token, no page
            assert page.goto(url).status == 200

            def screen() -> str:
                return str(page.evaluate(SCREEN))

            def shows(pattern: str, timeout: float = 60) -> re.Match[str]:
                page.wait_for_function(
                    f"() => new RegExp({pattern!r}).test(({SCREEN})())", timeout=timeout * 1000
                )
                found = re.search(pattern, screen())
                assert found, screen()
                return found

            shows(r"browser-run .*RUNNING")
            shown = int(shows(r"step\D*([\d,]+)/")[1].replace(",", ""))
            assert 0 < shown <= max(e["step"] for e in events(run_dir) if e["kind"] == "step")

            page.focus(".xterm-helper-textarea")  # where xterm.js takes the keys
            page.keyboard.press("p")
            shows(r"browser-run .*PAUSED")
            held = wait_for(lambda: paused_at(run_dir), 30, "the run's events to show the pause")
            shows(rf"step\D*{held:,}/")  # the screen settles on the step the run paused at

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "serve-dashboard.png"
            page.screenshot(path=str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        finally:
            browser.close()
        # Ctrl+C ends the server and the app it ran for the page, which detaches from the run
        code, seconds = stop(server)
        assert code == 0 and seconds < 10
        assert lock_held(run_dir) and paused_at(run_dir) == held
