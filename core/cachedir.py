"""Where tui-gan keeps what it can rebuild (the digit classifier, decoded image folders)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/tui-gan, or ~/.cache/tui-gan when that is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tui-gan"
