"""TrainConfig: validation messages, presets, TOML in and out, `--set` parsing."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.config import FIELDS, LIVE_FIELDS, TrainConfig, live_change, parse_overrides
from core.errors import ConfigError
from core.models import build_models
from core.presets import DEFAULT_PRESET, PRESETS

ISSUE_FIELDS = [
    "dataset",
    "data_root",
    "download",
    "subset",
    "image_size",
    "channels",
    "arch",
    "latent_dim",
    "batch_size",
    "epochs",
    "max_steps",
    "lr_g",
    "lr_d",
    "beta1",
    "beta2",
    "loss",
    "label_smoothing",
    "label_noise",
    "d_steps",
    "seed",
    "device",
    "sample_every",
    "checkpoint_every",
    "keep_checkpoints",
    "on_nan",
    "run_dir",
]


def test_every_user_facing_field_exists():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(ISSUE_FIELDS) <= names


def test_a_config_file_without_a_preset_starts_from_the_default_preset(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 3\n")
    assert TrainConfig.from_toml(path) == TrainConfig.from_preset(DEFAULT_PRESET, epochs=3)
    assert DEFAULT_PRESET == "mnist-dcgan"


def test_a_stored_config_that_predates_a_field_keeps_its_meaning():
    # Checkpoints and config.toml files of earlier versions lack the newer fields: each field's
    # default is the behaviour from before it existed, so such a run resumes into the same models.
    stored = TrainConfig.from_preset("mnist-dcgan").to_dict()
    for key in ("spectral_norm", "lr_decay", "r1_gamma", "g_ema", "g_output_conv"):
        del stored[key]
    config = TrainConfig.from_dict(stored)
    assert (
        config.spectral_norm,
        config.lr_decay,
        config.r1_gamma,
        config.g_ema,
        config.g_output_conv,
    ) == (False, "none", 0.0, 0.0, False)
    g, d = build_models(config)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert not any(type(m) is torch.nn.Conv2d for m in g.modules())


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("lr_g", 0.0, "(0, 10]"),
        ("lr_d", -1e-3, "(0, 10]"),
        ("beta1", 1.0, "[0, 1)"),
        ("batch_size", 0, "[1, 65536]"),
        ("loss", "wasserstein", "one of bce, hinge"),
        ("on_nan", "ignore", "one of pause, stop"),
        ("device", "tpu", "auto, cpu, cuda or cuda:N"),
        ("channels", 4, "[1, 3]"),
        ("download", "yes", "true or false"),
        ("epochs", 2.5, "int in [1, 1e+06]"),
        ("lr_g", float("nan"), "not a finite number"),
    ],
)
def test_bad_value_names_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_preset("mnist-dcgan", **{field: value})
    message = str(info.value)
    assert message.startswith(f"{field}: {value!r}")
    assert allowed in message


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="image_size: 30"):
        TrainConfig(image_size=30)
    with pytest.raises(ConfigError, match="arch: 'dcgan' cannot model 2-D points"):
        TrainConfig(dataset="ring8", arch="dcgan")
    with pytest.raises(ConfigError, match="channels: 2"):
        TrainConfig(channels=2)
    with pytest.raises(
        ConfigError, match="g_output_conv: only the dcgan generator has it, not arch='upsample'"
    ):
        TrainConfig(arch="upsample", g_output_conv=True)
    with pytest.raises(ConfigError, match="unknown data set 'imagenet'.*known: cifar10"):
        TrainConfig(dataset="imagenet")


def test_unknown_key_and_preset_are_named():
    with pytest.raises(ConfigError, match="unknown config key 'lr'.*known keys: .*lr_d"):
        TrainConfig.from_preset("mnist-dcgan", lr=1e-3)
    with pytest.raises(ConfigError, match="unknown preset 'mnist'; known: mnist-dcgan"):
        TrainConfig.from_preset("mnist")


def test_every_preset_is_valid_and_described():
    assert {
        "mnist-dcgan",
        "cifar10-dcgan32",
        "cifar10-upsample",
        "cifar10-dcgan64",
        "mnist-mlp",
        "cifar10-mlp",
        "ring8-mlp",
        "grid25-mlp",
    } <= set(PRESETS)
    for name, preset in PRESETS.items():
        config = TrainConfig.from_preset(name)
        assert config.preset == name
        assert preset.description and "\n" not in preset.description
    up = TrainConfig.from_preset("cifar10-upsample")
    assert (up.latent_dim, up.lr_g, up.beta1, up.beta2, up.subset) == (256, 0.005, 0.5, 0.99, 2500)
    d64 = TrainConfig.from_preset("cifar10-dcgan64")
    assert d64.image_size == 64 and d64.label_smoothing > 0 and d64.label_noise > 0


def test_int_fields_accept_whole_floats_and_numbers_are_normalised():
    config = TrainConfig(batch_size=32.0, lr_g=1)
    assert config.batch_size == 32 and type(config.batch_size) is int
    assert config.lr_g == 1.0 and type(config.lr_g) is float
    with pytest.raises(ConfigError, match="batch_size: True"):
        TrainConfig(batch_size=True)


def test_replace_validates():
    config = TrainConfig()
    assert config.replace(lr_g=1e-3).lr_g == 1e-3
    with pytest.raises(ConfigError, match="lr_g"):
        config.replace(lr_g=100.0)
    assert config.lr_g == 2e-4  # frozen: the original is untouched


def test_toml_round_trip(tmp_path):
    config = TrainConfig.from_preset(
        "cifar10-dcgan64",
        run_dir="runs/x",
        max_steps=7,
        subset=100,
        download=True,
        device="cuda:1",
        lr_g=3.5e-4,
    )
    path = tmp_path / "config.toml"
    config.save_toml(path)
    assert TrainConfig.from_toml(path) == config
    # unset optional fields are left out of the file and come back unset
    plain = TrainConfig()
    plain.save_toml(path)
    assert "max_steps" not in path.read_text()
    assert TrainConfig.from_toml(path) == plain


def test_toml_with_preset_key_starts_from_that_preset(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "ring8-mlp"\nlr_g = 0.01\n')
    config = TrainConfig.from_toml(path)
    assert (
        config.dataset == "ring8"
        and config.lr_g == 0.01
        and config.lr_d == PRESETS["ring8-mlp"].overrides["lr_d"]
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("lr_g = = 1", "not valid TOML"),
        ("lr_g = 100.0", "lr_g: 100.0 is not allowed"),
        ("learning_rate = 0.1", "unknown config key 'learning_rate'"),
        ("[model]\nwidth = 4", r"unexpected table \[model\]"),
        ('preset = "nope"', "unknown preset 'nope'"),
    ],
)
def test_bad_toml_names_the_file_and_problem(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        TrainConfig.from_toml(path)
    assert str(info.value).startswith(str(path))


def test_missing_toml_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        TrainConfig.from_toml(tmp_path / "absent.toml")


def test_parse_overrides_types_each_value_for_its_field():
    parsed = parse_overrides(
        [
            "lr_g=3e-4",
            "batch_size=1_024",
            "download=yes",
            "max_steps=none",
            "dataset=ring8",
            "epochs=2.0",
            " seed = 7 ",
        ]
    )
    assert parsed == {
        "lr_g": 3e-4,
        "batch_size": 1024,
        "download": True,
        "max_steps": None,
        "dataset": "ring8",
        "epochs": 2,
        "seed": 7,
    }
    assert type(parsed["epochs"]) is int


@pytest.mark.parametrize(
    ("pair", "match"),
    [
        ("lr_g", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("lr=3", "unknown config key 'lr'"),
        ("lr_g=fast", "lr_g: 'fast' is not a number"),
        ("batch_size=2.5", "batch_size: '2.5' is not allowed"),
        ("download=maybe", "download: 'maybe' is not allowed; expected true or false"),
        ("epochs=none", "epochs: 'none' is not a number"),
    ],
)
def test_parse_overrides_errors(pair, match):
    with pytest.raises(ConfigError, match=match):
        parse_overrides([pair])


def test_with_overrides_applies_and_validates():
    config = TrainConfig().with_overrides(["lr_d=1e-3", "loss=hinge"])
    assert (config.lr_d, config.loss) == (1e-3, "hinge")
    with pytest.raises(ConfigError, match="loss: 'l2'"):
        TrainConfig().with_overrides(["loss=l2"])


def test_every_field_has_a_spec_that_describes_itself():
    for name, spec in FIELDS.items():
        assert spec.describe(), name


def test_a_toml_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'preset = "ring8-mlp"\nwidth = 96\n')
    config = TrainConfig.from_toml(path)
    assert config.preset == "ring8-mlp" and config.width == 96


@pytest.mark.parametrize(
    "text", ["runs/🦊", 'a "quoted" \\ path', "tab\there", "line\nbreak", "é 中 𝄞"]
)
def test_to_toml_round_trips_any_string(tmp_path, text):
    config = TrainConfig(run_dir=text, data_root=text, max_steps=7)
    path = tmp_path / "config.toml"
    config.save_toml(path)
    assert TrainConfig.from_toml(path) == config


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({}, ["no changes"]),
        ({"learning_rate": 0.1}, ["unknown field 'learning_rate'"]),
        ({"lr_g": 1e-3, "width": 8}, ["width needs a restart", "lr_g"]),
        ({"lr_g": 0.0}, ["lr_g", "(0, 10]"]),
    ],
)
def test_a_live_change_names_why_it_is_refused(changes, words):
    with pytest.raises(ConfigError) as info:
        live_change(TrainConfig(), changes)
    assert all(w in str(info.value) for w in words), info.value


def test_a_live_change_applies_only_live_fields_marked_in_their_spec():
    assert LIVE_FIELDS == {name for name, spec in FIELDS.items() if spec.live}
    assert (
        live_change(TrainConfig(), {"lr_g": 1e-3, "beta1": 0.0}).replace(lr_g=2e-4, beta1=0.5)
        == TrainConfig()
    )
