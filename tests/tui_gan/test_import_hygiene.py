"""`tui_gan.view` is the Textual-free part of the app: no module of it, nor anything it imports,
loads textual. Every module the package holds is checked, each in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import tui_gan.view
from tests.runproc import ENV, ROOT

VIEW_MODULES = sorted(m.name for m in pkgutil.walk_packages(tui_gan.view.__path__, "tui_gan.view."))


def test_the_walk_finds_the_view_modules():
    assert {"tui_gan.view.runview", "tui_gan.view.metricnames", "tui_gan.view.plotdata"} <= set(
        VIEW_MODULES
    )


@pytest.mark.slow
@pytest.mark.parametrize("module", VIEW_MODULES)
def test_a_view_module_never_imports_textual(module: str):
    script = f"import json, sys\nimport {module}\nprint(json.dumps('textual' in sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False
