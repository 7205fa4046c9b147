"""`core` is the engine: importing any of its modules never pulls in the UI (textual, rich, tui_gan)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import core

FORBIDDEN = ("textual", "rich", "tui_gan")


def core_modules() -> list[str]:
    return sorted(f"core.{m.name}" for m in pkgutil.iter_modules(core.__path__))


def test_core_modules_are_found():
    names = core_modules()
    assert {"core.config", "core.data", "core.trainer", "core.events", "core.commands"} <= set(
        names
    )


@pytest.mark.slow
def test_core_never_imports_the_ui():
    names = ["core", *core_modules()]
    script = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps(bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
