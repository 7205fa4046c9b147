"""Checkpoint files: atomic writes, safe (weights-only) loading, fast listing from metadata sidecars."""

from __future__ import annotations

import io
import json
import math
import pickle
import random
import re
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import torch

from core.errors import CheckpointError, detail_line, first_line
from core.rundir import RunDir, atomic_write, read_regular

FORMAT = "tui-gan-checkpoint"
FORMAT_VERSION = 1
SUFFIX, META_SUFFIX = ".pt", ".meta.json"
REASONS = ("periodic", "manual", "final", "stop", "best")
ZIP_MAGIC = b"PK\x03\x04"
MAX_SIDECAR_BYTES = 64 * 1024  # a sidecar is a few hundred bytes (more metrics: a few kB)
_NAME = re.compile(r"^step_(\d+)(?:-([a-z]+))?\.pt$")


@dataclass(frozen=True)
class CheckpointInfo:
    """What the checkpoint browser shows of one file, read from its sidecar without loading tensors."""

    path: str
    step: int
    epoch: int
    time: float
    reason: str
    size: int
    loss_d: float | None = None
    loss_g: float | None = None
    readable: bool = True
    problem: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def checkpoint_name(step: int, reason: str) -> str:
    return f"step_{step:08d}{'' if reason == 'periodic' else '-' + reason}{SUFFIX}"


def meta_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(SUFFIX)] + META_SUFFIX)


# -- RNG state, stored in weights-only-loadable types ----------------------------------------------


def capture_rng() -> dict[str, Any]:
    """Every RNG a step may touch: torch CPU, CUDA (when present), numpy's global, python's."""
    np_state = np.random.get_state(legacy=False)
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


# -- writing ------------------------------------------------------------------------------------------


def save_checkpoint(run_dir: str | Path, payload: dict[str, Any], reason: str) -> Path:
    """Write `payload` as the checkpoint of its step, atomically, with its metadata sidecar.

    The sidecar is renamed into place before the checkpoint, so a crash in between leaves at most an
    orphan sidecar (ignored by listings), never a checkpoint without its metadata.
    """
    assert reason in REASONS, reason
    folder = RunDir(run_dir).checkpoints
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / checkpoint_name(int(payload["step"]), reason)
    payload = {
        **payload,
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "reason": reason,
        "time": time.time(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    losses = payload.get("losses", {})
    meta = CheckpointInfo(
        path=str(path),
        step=int(payload["step"]),
        epoch=int(payload["epoch"]),
        time=payload["time"],
        reason=reason,
        size=len(data),
        loss_d=losses.get("loss_d"),
        loss_g=losses.get("loss_g"),
        metrics=dict(payload.get("metrics", {})),
    )
    sidecar = meta_path(path)
    try:
        previous = sidecar.read_bytes()  # the same name again (a second manual save at one step)
    except OSError:
        previous = None
    atomic_write(sidecar, json.dumps({**meta.to_json(), "format_version": FORMAT_VERSION}).encode())
    try:
        atomic_write(path, data)
    except BaseException:
        # Leave things as they were: the old checkpoint keeps its own sidecar, a new one leaves none.
        try:
            if previous is None:
                sidecar.unlink()
            else:
                atomic_write(sidecar, previous)
        except OSError:
            pass
        raise
    return path


def prune_checkpoints(run_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` periodic checkpoints; hand-made ones and the best
    (keep_best) are never pruned."""
    from core.best import read_best

    best = read_best(run_dir)
    periodic = [
        Path(c.path)
        for c in list_checkpoints(run_dir)
        if c.reason == "periodic" and (best is None or Path(c.path).name != best.checkpoint)
    ]
    doomed = periodic[:-keep] if keep > 0 else periodic
    for path in doomed:
        delete_checkpoint(path)
    return doomed


def remove_stale_temps(run_dir: str | Path) -> None:
    """Delete temporary files a killed writer left in checkpoints/; call only while holding the run lock."""
    folder = RunDir(run_dir).checkpoints
    for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
        try:
            tmp.unlink()
        except OSError:
            pass


def delete_checkpoint(path: str | Path) -> None:
    """Remove a checkpoint and its sidecar."""
    path = Path(path)
    for p in (path, meta_path(path)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


# -- reading --------------------------------------------------------------------------------------------


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a tui-gan checkpoint with `weights_only=True`; any problem is a CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():  # a FIFO or a device would block the read or never end
        raise CheckpointError(f"{path}: not a regular file, not a checkpoint")
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not head:
        raise CheckpointError(
            f"{path}: empty file, not a checkpoint (a write that never finished?)"
        )
    if head != ZIP_MAGIC:
        # tui-gan always writes torch's zip format; anything else is foreign, so it is never unpickled.
        raise CheckpointError(
            f"{path}: not a tui-gan checkpoint (not a torch zip archive: a foreign or random file)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused: {_unpickling_problem(str(exc))}") from None
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,
        AttributeError,
        TypeError,
        IndexError,
        UnicodeDecodeError,
        MemoryError,
    ) as exc:
        detail = first_line(exc).split(". ")[0][:160]
        raise CheckpointError(f"{path}: truncated or corrupted checkpoint ({detail})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a tui-gan checkpoint (a plain state_dict or another program's file)"
        )
    version = payload.get("version")
    if _is_int(version) and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this tui-gan reads ({FORMAT_VERSION}); upgrade tui-gan"
        )
    missing = [k for k, (_, required) in PAYLOAD.items() if required and k not in payload]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint, missing {', '.join(missing)}")
    problem = _payload_problem(payload)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: {problem}")
    _checked_config(path, payload)
    return payload


# -- the payload's schema: every field tui-gan writes, with its type ----------------------------------
#
# Checked once on load, so that no later `int(payload["step"])` or `payload["rng"]` can fail on a
# crafted or damaged file: a spec is a type (or tuple of types), a _Seq/_Map of specs, or a dict of
# field name -> (spec, required).


@dataclass(frozen=True)
class _Seq:
    item: Any


@dataclass(frozen=True)
class _Map:
    value: Any
    keys: Any = str


_COUNT = "count"  # a whole number in [0, 2**63)
_NUMBER = (int, float)
_RNG = {
    "torch": (torch.Tensor, True),
    "cuda": (_Seq(torch.Tensor), True),
    "numpy": (
        {
            "bit_generator": (str, True),
            "key": (torch.Tensor, True),
            "pos": (int, True),
            "has_gauss": (int, True),
            "gauss": (_NUMBER, True),
        },
        True,
    ),
    "python": (
        {
            "version": (int, True),
            "state": (_Seq(int), True),
            "gauss": ((*_NUMBER, type(None)), True),
        },
        True,
    ),
}
_OPTIMIZER = {
    "state": (_Map(_Map(object), keys=(int, str)), True),
    "param_groups": (_Seq(_Map(object)), True),
}
PAYLOAD: dict[str, tuple[Any, bool]] = {
    "format": (str, True),
    "version": (int, True),
    "config": (_Map(object), True),
    "step": (_COUNT, True),
    "epoch": (_COUNT, True),
    "batch": (_COUNT, True),
    "generator": (_Map(torch.Tensor), True),
    "discriminator": (_Map(torch.Tensor), True),
    "generator_ema": (_Map(torch.Tensor), False),
    "opt_g": (_OPTIMIZER, True),
    "opt_d": (_OPTIMIZER, True),
    "fixed_noise": (torch.Tensor, True),
    "scaler_g": (_Map(_NUMBER), False),  # fp16 runs: the gradient scalers of G and D
    "scaler_d": (_Map(_NUMBER), False),
    "rng": (_RNG, True),
    "rank_rng": (_Seq(_RNG), False),
    "world_size": (_COUNT, False),
    "steps_per_epoch": (_COUNT, False),
    "losses": (_Map(_NUMBER), False),
    "metrics": (_Map(_NUMBER), False),
    "reason": (str, False),
    "time": (_NUMBER, False),
}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(spec: Any) -> str:
    if spec == _COUNT:
        return "a whole number ≥ 0"
    if isinstance(spec, _Seq):
        return "a list"
    if isinstance(spec, (_Map, dict)):
        return "a dict"
    names = [t.__name__ for t in (spec if isinstance(spec, tuple) else (spec,))]
    return " or ".join("None" if n == "NoneType" else n for n in names)


def _problem(value: Any, spec: Any, where: str) -> str | None:
    """What is wrong with `value` as `spec`, naming the field; None when it fits."""
    if spec == _COUNT:
        ok = _is_int(value) and 0 <= value < 2**63
    elif isinstance(spec, _Seq):
        if not isinstance(value, (list, tuple)):
            ok = False
        else:
            return next(
                (p for i, v in enumerate(value) if (p := _problem(v, spec.item, f"{where}[{i}]"))),
                None,
            )
    elif isinstance(spec, _Map):
        if not isinstance(value, dict):
            ok = False
        else:
            for key, item in value.items():
                if not isinstance(key, spec.keys) or isinstance(key, bool):
                    return f"field {where} has a key {str(key)[:40]!r} of type {type(key).__name__}"
                found = _problem(item, spec.value, f"{where}.{key}")
                if found:
                    return found
            return None
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            ok = False
        else:
            return _fields_problem(value, spec, f"{where}.")
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        ok = isinstance(value, types) and not (
            isinstance(value, bool) and int in types
        )  # True is no count
    if ok:
        return None
    return f"field {where} is {type(value).__name__}, expected {_type_name(spec)}"


def _fields_problem(
    record: dict[str, Any], specs: dict[str, tuple[Any, bool]], prefix: str = ""
) -> str | None:
    for name, (spec, required) in specs.items():
        if name not in record:
            if required:
                return f"field {prefix}{name} is missing"
            continue
        found = _problem(record[name], spec, prefix + name)
        if found:
            return found
    return None


def _payload_problem(payload: dict[str, Any]) -> str | None:
    """The first field of a checkpoint payload that is missing or of the wrong type, as words."""
    found = _fields_problem(payload, PAYLOAD)
    if found:
        return found
    world = payload.get("world_size", 1)
    if world > 1 and len(payload.get("rank_rng", ())) != world:
        return f"field rank_rng does not hold the RNG state of each of its {world} processes"
    return None


def _checked_config(path: Path, payload: dict[str, Any]) -> Any:
    """The payload's TrainConfig; a config that does not validate is a CheckpointError naming the file."""
    from core.config import TrainConfig
    from core.errors import ConfigError

    try:
        return TrainConfig.from_dict(payload["config"])
    except (ConfigError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{path}: its config cannot be used ({first_line(exc)})") from None


def _unpickling_problem(message: str) -> str:
    """The one informative line of torch's long weights-only refusal."""
    global_ = re.search(r"GLOBAL ([\w.]+)", message)
    if global_:
        return (
            f"it would import {global_.group(1)}, which could run code; "
            "a tui-gan checkpoint holds only tensors, numbers, strings, lists and dicts"
        )
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    detail = next((ln for ln in lines if ln.startswith("Unsupported")), lines[-1] if lines else "")
    return f"not plain data, so it was not unpickled ({detail[:120]})"


def _number(value: Any) -> Any:
    """A loss or metric of a sidecar: a number (NaN included: losses diverge) or None."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ValueError(f"{str(value)[:20]!r} is not a number")


def _info_from_sidecar(path: Path) -> CheckpointInfo:
    match = _NAME.match(path.name)
    step = int(match.group(1)) if match else -1
    reason = (match.group(2) or "periodic") if match else "unknown"
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    try:
        meta = json.loads(read_regular(meta_path(path), MAX_SIDECAR_BYTES))
        if not isinstance(meta, dict):
            raise ValueError("the metadata is not a JSON object")
        if not math.isfinite(meta.get("time", 0.0)) or not 0 <= meta.get("time", 0.0) < 2**36:
            raise ValueError(f"time {meta.get('time')} is no time a clock gave")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"format {meta.get('format_version')} is newer than this tui-gan reads"
            )
        if meta.get("size") != size:
            raise ValueError(f"size {size} differs from the {meta.get('size')} bytes written")
        return CheckpointInfo(
            path=str(path),
            step=int(meta["step"]),
            epoch=int(meta["epoch"]),
            time=float(meta["time"]),
            reason=str(meta["reason"])[:20],
            size=size,
            loss_d=_number(meta.get("loss_d")),
            loss_g=_number(meta.get("loss_g")),
            metrics={str(k): _number(v) for k, v in dict(meta.get("metrics") or {}).items()},
        )
    except FileNotFoundError:
        problem = "no metadata (not written by tui-gan?)"
    except (OSError, ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        problem = f"unreadable: {str(exc)[:200]}"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return CheckpointInfo(
        path=str(path),
        step=step,
        epoch=0,
        time=mtime,
        reason=reason,
        size=size,
        readable=False,
        problem=problem,
    )


def list_checkpoints(run_dir: str | Path) -> list[CheckpointInfo]:
    """The run's checkpoints, oldest step first, from sidecars only (fast: no tensors are loaded)."""
    folder = RunDir(run_dir).checkpoints
    if not folder.is_dir():
        return []
    infos = [
        _info_from_sidecar(p)
        for p in folder.iterdir()
        if p.suffix == SUFFIX and not p.name.startswith(".")
    ]
    return sorted(infos, key=lambda c: (c.step, c.time))


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest readable checkpoint of a run directory."""
    readable = [c for c in list_checkpoints(run_dir) if c.readable]
    if not readable:
        raise CheckpointError(f"{run_dir}: no readable checkpoint in {RunDir(run_dir).checkpoints}")
    return Path(readable[-1].path)


def resolve_checkpoint(path: str | Path, on_skip: Callable[[str], None] | None = None) -> Path:
    """A checkpoint file as given, or the newest one of a run directory that loads: newer ones that
    do not (a file damaged after its sidecar was written) are skipped, each told to `on_skip`."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise CheckpointError(f"{path}: no such checkpoint file or run directory")
        return path
    readable = [Path(c.path) for c in reversed(list_checkpoints(path)) if c.readable]
    problems = []
    for candidate in readable:
        try:
            load_checkpoint(candidate)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            if on_skip is not None:
                on_skip(f"skipped {problem}")
        return candidate
    if problems:
        raise CheckpointError(f"{path}: no checkpoint that loads; the newest: {problems[0]}")
    raise CheckpointError(f"{path}: no readable checkpoint in {RunDir(path).checkpoints}")


def run_dir_of(checkpoint: str | Path) -> Path | None:
    """The run directory a checkpoint lives in, if it sits in one's `checkpoints/` folder."""
    checkpoint = Path(checkpoint).resolve()
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def load_checkpoint_config(path: str | Path) -> tuple[dict[str, Any], Any]:
    """(payload, its TrainConfig) of a checkpoint; a config that no longer validates is a CheckpointError."""
    payload = load_checkpoint(path)
    return payload, _checked_config(Path(path), payload)


def load_generator(
    path: str | Path, named: Mapping[str, Any] | None = None
) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """(generator in eval mode on the CPU, its TrainConfig, the checkpoint payload) of a checkpoint:
    the moving average of G's weights when the run kept one (g_ema), else G. A plug-in arch is
    loaded only when `named` (the user's config values) names the same one.

    Built on the meta device and filled from the file, so the global RNG — possibly a live
    trainer's in this process — is never touched.
    """
    payload, config = load_checkpoint_config(path)
    generator, _ = models_of(path, payload, config, named)
    return generator.eval(), config, payload


def models_of(
    path: str | Path, payload: dict[str, Any], config: Any, named: Mapping[str, Any] | None = None
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(G, D) of `config` holding the checkpoint's weights (G: the moving average when there is
    one); a saved model that does not fit its config is a CheckpointError naming it. A plug-in
    arch is built only when `named` names the same one: a checkpoint never imports code itself."""
    from core.models import build_models
    from core.plugins import require_named

    require_named(config.to_dict(), named, str(path))

    with torch.device("meta"):  # no memory, no RNG: the weights come from the file
        generator, discriminator = build_models(config, seeded=False)
        spare, _ = build_models(config, seeded=False)
    for name, model in (
        ("generator", spare),
        ("generator_ema", generator),
        ("discriminator", discriminator),
    ):
        if name not in payload:
            continue
        try:
            model.load_state_dict(payload[name], assign=True)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: {name} does not fit its config ({detail_line(exc)})"
            ) from None
    if "generator_ema" not in payload:
        generator = spare
    return generator, discriminator
