"""The one training configuration: typed, range-checked fields, TOML in and out."""

from __future__ import annotations

import dataclasses
import math
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from core.errors import ConfigError
from core.plugins import PLUGIN_PATTERN, is_plugin


@dataclass(frozen=True)
class Spec:
    """What one field accepts: a type, a numeric range or a set of choices."""

    type: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False
    pattern: str | None = None
    help: str = ""
    live: bool = False  # a running trainer takes it at the next step; the others need a restart

    def describe(self) -> str:
        if self.choices:
            allowed = "one of " + ", ".join(self.choices)
        elif self.type is bool:
            allowed = "true or false"
        elif self.pattern:
            allowed = self.help or f"text matching {self.pattern}"
        elif self.low is not None or self.high is not None:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            allowed = f"{self.type.__name__} in {lo}{low}, {high}{hi}"
        else:
            allowed = self.type.__name__
        return allowed + (" or unset" if self.optional else "")


def _f(spec: Spec, default: Any) -> Any:
    return field(default=default, metadata={"spec": spec})


DEVICE_PATTERN = r"auto|cpu|cuda|cuda:\d+"
ARCHS = ("dcgan", "upsample", "mlp")
ARCH_PATTERN = "|".join(ARCHS) + "|" + PLUGIN_PATTERN  # or the user's "package.module:function"
MODEL_ARGS = "model_args"  # the one table: keyword arguments of a plug-in arch's factory
LR_DECAYS = ("none", "cosine")
AUGMENTS = ("none", "flip", "diffaugment")  # core/augment.py builds them
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOG_EVERY_PATTERN = r"auto|[1-9][0-9]*"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; defaults are the `mnist-dcgan` preset on the embedded digits."""

    preset: str = _f(Spec(str, help="preset this config came from"), "mnist-dcgan")
    dataset: str = _f(Spec(str, help="registered data set name"), "mnist5k")
    data_root: str = _f(Spec(str, help="folder holding on-disk data sets"), "data")
    download: bool = _f(Spec(bool, help="allow torchvision to download"), False)
    subset: int | None = _f(
        Spec(int, 1, None, optional=True, help="train on a fixed, spread-out subset of N items"),
        None,
    )
    # issue 18: image folders too large to preload stream from disk, decoded by data_workers
    preload_gb: float = _f(
        Spec(
            float,
            0,
            None,
            help="image data above this many GiB decoded streams from disk, 0 = always",
        ),
        8.0,
    )
    data_workers: int | None = _f(
        Spec(
            int,
            0,
            1024,
            optional=True,
            help="processes decoding images: unset = one per core, 0 = none",
        ),
        None,
    )
    image_size: int = _f(Spec(int, 4, 1024), 28)
    channels: int = _f(Spec(int, 1, 3), 1)
    arch: str = _f(
        Spec(
            str,
            pattern=ARCH_PATTERN,
            help=f"{', '.join(ARCHS)}, or your own factory as package.module:function",
        ),
        "dcgan",
    )
    model_args: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "spec": Spec(
                dict,
                help="a table of name = value (numbers, booleans, text) for a plug-in arch",
            )
        },
    )
    width: int = _f(Spec(int, 1, 4096, help="base layer width of G and D"), 64)
    latent_dim: int = _f(Spec(int, 1, 8192), 100)
    batch_size: int = _f(Spec(int, 1, 1 << 16), 64)
    epochs: int = _f(Spec(int, 1, 1_000_000, live=True), 25)
    max_steps: int | None = _f(Spec(int, 1, None, optional=True, live=True), None)
    lr_g: float = _f(Spec(float, 0, 10, low_open=True, live=True), 2e-4)
    lr_d: float = _f(Spec(float, 0, 10, low_open=True, live=True), 2e-4)
    lr_decay: str = _f(
        Spec(str, choices=LR_DECAYS, help="cosine: lr falls to 5 % of lr_g/lr_d by the last step"),
        "none",
    )
    beta1: float = _f(Spec(float, 0, 1, high_open=True, live=True), 0.5)
    beta2: float = _f(Spec(float, 0, 1, high_open=True, live=True), 0.999)
    loss: str = _f(Spec(str, choices=("bce", "hinge")), "bce")
    label_smoothing: float = _f(Spec(float, 0, 0.5, high_open=True, live=True), 0.0)
    label_noise: float = _f(Spec(float, 0, 0.5, high_open=True, live=True), 0.0)
    d_steps: int = _f(Spec(int, 1, 100, live=True), 1)
    spectral_norm: bool = _f(
        Spec(bool, help="spectral norm on every D layer, in place of its batch norm"), False
    )
    g_output_conv: bool = _f(
        Spec(
            bool,
            help="dcgan G: a last full-size layer of width maps, then a 3×3 "
            "convolution to the image",
        ),
        False,
    )
    r1_gamma: float = _f(
        Spec(float, 0, 1e6, help="R1 penalty γ/2·E‖∇D(real)‖² on D, 0 = off", live=True), 0.0
    )
    augment: str = _f(
        Spec(
            str,
            choices=AUGMENTS,
            help="flip: mirror real images at random; diffaugment: colour, translation and "
            "cutout on real and fake images before D",
        ),
        "none",
    )
    g_ema: float = _f(
        Spec(
            float,
            0,
            1,
            high_open=True,
            help="decay of a moving average of G's weights that draws samples, metrics and "
            "exports, 0 = off",
        ),
        0.0,
    )
    seed: int = _f(Spec(int, 0, 2**63 - 1), 0)
    device: str = _f(Spec(str, pattern=DEVICE_PATTERN, help="auto, cpu, cuda or cuda:N"), "auto")
    cpu_threads: int = _f(
        Spec(int, 0, 1024, help="torch threads on the CPU, 0 = torch's default"), 0
    )
    precision: str = _f(
        Spec(
            str,
            choices=PRECISIONS,
            help="auto: bf16 on CUDA devices that support it, fp32 elsewhere; fp16 is CUDA only",
        ),
        "auto",
    )
    tf32: bool = _f(Spec(bool, help="allow TF32 matmuls and convolutions (CUDA only)"), True)
    compile: bool = _f(
        Spec(bool, help="torch.compile G and D: slower start, faster steps on GPUs"), False
    )
    log_every: str = _f(
        Spec(
            str,
            pattern=LOG_EVERY_PATTERN,
            help="steps between step events: auto (about every 100 ms) or a whole number ≥ 1",
        ),
        "auto",
    )
    n_samples: int = _f(Spec(int, 1, 1024, help="images in the fixed-noise grid"), 64)
    sample_every: int = _f(
        Spec(int, 0, None, help="steps between sample grids, 0 = at end", live=True), 200
    )
    checkpoint_every: int = _f(
        Spec(int, 0, None, help="steps between checkpoints, 0 = at end", live=True), 1000
    )
    keep_checkpoints: int = _f(Spec(int, 1, 100_000, live=True), 5)
    on_nan: str = _f(Spec(str, choices=("pause", "stop"), live=True), "pause")
    eval_every: int = _f(
        Spec(int, 0, None, help="steps between quality metrics, 0 = off", live=True), 0
    )
    eval_samples: int = _f(
        Spec(int, 10, 100_000, help="generated samples per evaluation", live=True), 2500
    )
    inception_weights: str | None = _f(
        Spec(str, optional=True, help="local Inception v3 weights for FID/KID"), None
    )
    keep_best: str | None = _f(
        Spec(
            str,
            optional=True,
            help="a metric (e.g. modes, fid_digits): the checkpoint of its best evaluation is kept",
        ),
        None,
    )
    run_dir: str | None = _f(Spec(str, optional=True), None)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(
                self, f.name, _check(f.name, f.metadata["spec"], getattr(self, f.name))
            )
        self._check_together()

    def _check_together(self) -> None:
        from core.data import DATASETS, is_toy

        if is_plugin(self.dataset):
            if not re.fullmatch(PLUGIN_PATTERN, self.dataset):
                raise ConfigError(
                    f"dataset: {self.dataset!r} is not allowed; expected a registered data set "
                    "or your own as package.module:function"
                )
        elif self.dataset not in DATASETS:
            raise ConfigError(
                f"dataset: unknown data set {self.dataset!r}; known: {', '.join(sorted(DATASETS))}"
                ", or your own as package.module:function"
            )
        plugin = is_plugin(self.arch)
        if self.model_args and not plugin:
            raise ConfigError(
                f"model_args: only a plug-in arch (package.module:function) takes them, "
                f"not the built-in arch={self.arch!r}"
            )
        if is_toy(self.dataset) and not plugin and self.arch != "mlp":
            raise ConfigError(
                f"arch: {self.arch!r} cannot model 2-D points of {self.dataset!r}; use arch=mlp"
            )
        if self.augment != "none" and is_toy(self.dataset):
            raise ConfigError(
                f"augment: {self.augment!r} needs images; {self.dataset!r} is 2-D points, use augment=none"
            )
        # width, spectral_norm and g_output_conv shape the built-in models; a plug-in's factory
        # sees them in the config and decides itself
        if self.g_output_conv and not plugin and self.arch != "dcgan":
            raise ConfigError(
                f"g_output_conv: only the dcgan generator has it, not arch={self.arch!r}"
            )
        if self.channels == 2:
            raise ConfigError("channels: 2 is not an image format; use 1 (grey) or 3 (colour)")
        if self.arch == "dcgan":
            from core.models import dcgan_start

            dcgan_start(self.image_size)  # raises ConfigError for sizes it cannot reach
        if self.keep_best is not None:
            from core.best import check_keep_best

            check_keep_best(self)

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named preset with `overrides` applied (and validated)."""
        from core.presets import PRESETS

        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        values = {"preset": name, **PRESETS[name].overrides, **overrides}
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from plain values, refusing unknown keys by name."""
        values = _fold_table_keys(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown config key {unknown[0]!r}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path, preset: str | None = None) -> TrainConfig:
        """Load a TOML file written by `to_toml` or by hand: its fields on top of `preset`, or of its
        own `preset` key's preset, or of the default preset (a file naming another preset is refused)."""
        path = Path(path)
        try:
            values = tomllib.loads(
                path.read_text(encoding="utf-8-sig")
            )  # editors on Windows add a BOM
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        nested = [k for k, v in values.items() if isinstance(v, dict) and k != MODEL_ARGS]
        if nested:
            raise ConfigError(
                f"{path}: unexpected table [{nested[0]}]; the config is flat key = value"
            )
        try:
            from core.presets import DEFAULT_PRESET

            named = values.pop("preset", None)
            if preset is not None and named is not None and named != preset:
                raise ConfigError(
                    f"it names preset {named!r}, the command line {preset!r}; drop one of them"
                )
            return cls.from_preset(preset or named or DEFAULT_PRESET, **values)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with `changes`."""
        return self.from_dict({**self.to_dict(), **changes})

    def with_overrides(self, pairs: list[str]) -> TrainConfig:
        """Apply command-line `key=value` strings, parsing each value for its field's type."""
        return self.replace(**parse_overrides(pairs))

    # -- writing ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The config as TOML: flat, but for a [model_args] table when it has keys; unset optional
        fields are absent (TOML has no null)."""
        return tomli_w.dumps({k: v for k, v in self.to_dict().items() if v is not None and v != {}})

    def save_toml(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml(), encoding="utf-8")

    def default_run_dir(self) -> str:
        return self.run_dir or str(Path("runs") / f"{self.preset}-{time.strftime('%Y%m%d-%H%M%S')}")


def _check(name: str, spec: Spec, value: Any) -> Any:
    def bad(reason: str = "") -> ConfigError:
        detail = f" ({reason})" if reason else ""
        return ConfigError(f"{name}: {value!r} is not allowed{detail}; expected {spec.describe()}")

    if value is None:
        if spec.optional:
            return None
        raise bad()
    if spec.type is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if spec.type is dict:
        return _check_table(name, value)
    if spec.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise bad()
    elif spec.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        value = float(value)
        if not math.isfinite(value):
            raise bad("not a finite number")
    elif spec.type is str:
        if spec.pattern and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # log_every = 8 in a hand-written TOML
        if not isinstance(value, str):
            raise bad()
        if spec.choices and value not in spec.choices:
            raise bad()
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            raise bad()
        return value
    if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
        raise bad("too small")
    if spec.high is not None and (value > spec.high or (spec.high_open and value == spec.high)):
        raise bad("too large")
    return value


def _check_table(name: str, value: Any) -> dict[str, Any]:
    """A model_args table: identifier keys (they become keyword arguments) to TOML scalars."""
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: {value!r} is not a table of name = value")
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(
                f"{name}: key {key!r} is not a Python name (keys are keyword arguments)"
            )
        if not isinstance(item, (bool, int, float, str)):
            raise ConfigError(
                f"{name}.{key}: {item!r} is not allowed; expected a number, true/false or text"
            )
    return dict(value)


FIELDS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in dataclasses.fields(TrainConfig)}
# Fields a running trainer takes at the next step (the trainer, the app's form and `ctl set` use it).
LIVE_FIELDS: frozenset[str] = frozenset(name for name, spec in FIELDS.items() if spec.live)


def live_change(config: TrainConfig, changes: dict[str, Any]) -> TrainConfig:
    """`config` with `changes` a running trainer can take; ConfigError says why not (no changes,
    an unknown field, one that needs a restart, or a value out of range)."""
    if not changes:
        raise ConfigError("no changes given")
    # model_args.NAME (from `ctl set`) is the model_args table: it needs a restart like the table
    changes = {(MODEL_ARGS if k.startswith(MODEL_ARGS + ".") else k): v for k, v in changes.items()}
    unknown = sorted(k for k in changes if k not in FIELDS)
    if unknown:
        raise ConfigError(f"unknown field {unknown[0]!r}")
    frozen = sorted(k for k in changes if k not in LIVE_FIELDS)
    if frozen:
        raise ConfigError(
            f"{', '.join(frozen)} needs a restart (live: {', '.join(sorted(LIVE_FIELDS))})"
        )
    return config.replace(**changes)


def parse_value(key: str, text: str) -> Any:
    """Parse one command-line value for field `key` (e.g. "3e-4", "true", "none"); `model_args.NAME`
    takes a TOML literal (4, 0.5, true, "relu" or bare relu), `model_args` an inline table."""
    if key == MODEL_ARGS or key.startswith(MODEL_ARGS + "."):
        return _parse_table_value(key, text)
    if key not in FIELDS:
        raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(sorted(FIELDS))}")
    spec = FIELDS[key]
    text = text.strip()
    if spec.optional and text.lower() in ("none", "null", ""):
        return None
    if spec.type is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: {text!r} is not allowed; expected true or false")
    if spec.type in (int, float):
        try:
            number = float(text) if spec.type is float else int(text.replace("_", ""))
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise ConfigError(
                    f"{key}: {text!r} is not a number; expected {spec.describe()}"
                ) from None
            if not as_float.is_integer():
                raise ConfigError(
                    f"{key}: {text!r} is not allowed; expected {spec.describe()}"
                ) from None
            number = int(as_float)
        return number
    return text


def _parse_table_value(key: str, text: str) -> Any:
    sub = key.partition(".")[2]
    if key != MODEL_ARGS and not sub.isidentifier():
        raise ConfigError(f"{key}: {sub!r} is not a Python name (keys are keyword arguments)")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        if key == MODEL_ARGS:
            raise ConfigError(
                f"{key}: {text!r} is not a TOML inline table such as {{depth = 4}}"
            ) from None
        value = text.strip()  # a bare word: text, so --set model_args.act=relu needs no quotes
    return (
        _check_table(MODEL_ARGS, value)
        if key == MODEL_ARGS
        else _check_table(MODEL_ARGS, {sub: value})[sub]
    )


def _fold_table_keys(values: dict[str, Any]) -> dict[str, Any]:
    """`model_args.NAME = v` keys (from --set) merged into the model_args table they name."""
    dotted = [k for k in values if k.startswith(MODEL_ARGS + ".")]
    if not dotted:
        return values
    values = dict(values)
    table = dict(values.get(MODEL_ARGS) or {})
    for k in dotted:
        table[k.partition(".")[2]] = values.pop(k)
    values[MODEL_ARGS] = table
    return values


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ["lr_g=1e-3", ...] into a dict of typed values; a malformed pair names itself."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(key.strip(), text)
    return out
