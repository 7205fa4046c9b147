"""`tui-gan presets`: the presets, one line each, the default marked."""

from __future__ import annotations

import argparse


def cmd_presets(args: argparse.Namespace) -> int:
    from core.presets import DEFAULT_PRESET, PRESETS

    width = max(len(n) for n in PRESETS)
    for name, preset in PRESETS.items():
        mark = "*" if name == DEFAULT_PRESET else " "
        print(f"{mark} {name:<{width}}  {preset.description}")
    return 0
