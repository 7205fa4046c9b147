"""Plug-in names: "package.module:function" in `arch` or `dataset`, resolved to the user's function.

Also the rule that a checkpoint never makes tui-gan import code: a plug-in a checkpoint names is
loaded only when the user names the same one.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from core.errors import UserError

# Dotted module path, a colon, one attribute name: "examples.sngan:build".
PLUGIN_PATTERN = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*"
# The config fields that may name a plug-in, and what each one's function makes.
PLUGIN_FIELDS = {"arch": "model", "dataset": "data set"}

T = TypeVar("T")


class PluginError(UserError):
    """A plug-in that cannot be used: not found, not callable, or its own code raised."""


class PluginNotNamed(UserError):
    """A checkpoint names a plug-in the user has not named: tui-gan will not import it."""


def is_plugin(value: object) -> bool:
    """Whether a config value names a plug-in (any value with a colon)."""
    return isinstance(value, str) and ":" in value


def valid_name(value: str) -> bool:
    return re.fullmatch(PLUGIN_PATTERN, value) is not None


def resolve(name: str, field: str = "arch") -> Callable[..., Any]:
    """The function `name` ("package.module:function") names, importing its module from the
    current directory or PYTHONPATH. PluginError when it is missing, and when the module's own
    code raises on import (then with the user's frames of the traceback)."""
    module_name, _, attr = name.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # as `python -m` does: the user's modules beside them come first
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise PluginError(
                f"{field}: no module named {exc.name!r} for {name!r} (looked in the current "
                "directory and PYTHONPATH)"
            ) from None
        raise user_code_error(f"{field}: importing {module_name!r} failed", exc) from None
    except Exception as exc:
        raise user_code_error(f"{field}: importing {module_name!r} failed", exc) from None
    function = getattr(module, attr, None)
    if function is None:
        where = getattr(module, "__file__", None) or module_name
        raise PluginError(f"{field}: module {module_name!r} ({where}) has no {attr!r}")
    if not callable(function):
        raise PluginError(
            f"{field}: {name!r} is a {type(function).__name__}, not a function to call"
        )
    return function  # type: ignore[no-any-return]


def call(name: str, field: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` of plug-in `name`; an exception it raises becomes a PluginError
    showing only the user's frames (its frames in tui-gan, torch or Python are not theirs to fix)."""
    try:
        return function(*args, **kwargs)
    except TypeError as exc:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            # raised by the call itself: arguments the function does not take (a model_args key)
            raise PluginError(f"{field}: {name}: {exc}") from None
        raise user_code_error(f"{field}: {name} raised", exc) from None
    except Exception as exc:
        raise user_code_error(f"{field}: {name} raised", exc) from None


def user_code_error(what: str, exc: BaseException) -> PluginError:
    """A PluginError whose message is `what`, the user's frames of `exc`'s traceback, and `exc`."""
    frames = user_frames(exc.__traceback__)
    lines = [f"{what}: {type(exc).__name__}: {exc}".rstrip()]
    if frames:
        lines.append("Traceback (your code):")
        lines += [line.rstrip("\n") for line in traceback.format_list(frames)]
    return PluginError("\n".join(lines))


# -- whose frames -------------------------------------------------------------------------------

_OURS = tuple(
    str(Path(__file__).resolve().parent.parent / pkg) + os.sep for pkg in ("core", "tui_gan")
)
_LIBRARIES = tuple(
    {
        str(Path(p).resolve()) + os.sep
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(key))
    }
)


def user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    """The frames of `tb` in the user's code: none of tui-gan's or importlib's, and none of the
    libraries' (stdlib, site-packages) unless the user's code is installed there too."""
    frames = [
        f
        for f in traceback.extract_tb(tb)
        if not f.filename.startswith("<frozen")
        and not _under(f.filename, _OURS)
        and "importlib" not in Path(f.filename).parts
    ]
    own = [f for f in frames if not _under(f.filename, _LIBRARIES)]
    return own or frames


def _under(filename: str, folders: Iterable[str]) -> bool:
    try:
        path = str(Path(filename).resolve())
    except (OSError, RuntimeError):
        path = filename
    return any(path.startswith(folder) for folder in folders)


# -- checkpoints never import code on their own -------------------------------------------------


def require_named(
    saved: Mapping[str, Any],
    named: Mapping[str, Any] | None,
    source: str,
    fields: Iterable[str] = ("arch",),
) -> None:
    """Refuse a checkpoint (`saved`: its config) that names a plug-in in one of `fields` unless
    the user named the same one in `named` (their --set values or config file)."""
    named = named or {}
    for field in fields:
        value = saved.get(field)
        if not is_plugin(value):
            continue
        mine = named.get(field)
        if mine == value:
            continue
        also = f" (you named {mine!r})" if mine is not None else ""
        raise PluginNotNamed(
            f"{source}: trained with the plug-in {PLUGIN_FIELDS[field]} {value!r}{also}; "
            f"a checkpoint never makes tui-gan import code: name it with --set {field}={value} "
            "to load it"
        )


def plugin_names(config: Any) -> dict[str, str]:
    """The plug-ins a config names, by field: what a user who started this run has named."""
    return {f: getattr(config, f) for f in PLUGIN_FIELDS if is_plugin(getattr(config, f, None))}
