"""Plug-in models and data sets: modules the tests write, imported by name as a user's would be."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import commands as cmd
from core import events as ev
from core.checkpoints import latest_checkpoint, load_checkpoint, load_generator
from core.config import TrainConfig
from core.data import StreamSource, TensorSource, load_images, load_source
from core.errors import ConfigError, DataError
from core.evaluate import evaluate_checkpoint
from core.export import export_weights, sample_from_checkpoint
from core.models import build_models
from core.plugin_data import item_to_chw
from core.plugins import PluginError, PluginNotNamed, resolve
from core.trainer import Trainer
from tests.plugin_modules import MARKER_MODELS, MODELS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(run_dir: Path, **changes) -> TrainConfig:
    values = {
        "arch": "tinymodels:build",
        "batch_size": 8,
        "subset": 64,
        "n_samples": 4,
        "device": "cpu",
        "sample_every": 0,
        "checkpoint_every": 0,
        "epochs": 100,
        "max_steps": 4,
        "lr_decay": "none",
        "log_every": "1",
        "loss": "bce",
        "label_noise": 0.1,
        "run_dir": str(run_dir),
    }
    return TrainConfig.from_preset("mnist-dcgan", **{**values, **changes})


def run(trainer: Trainer) -> Trainer:
    assert trainer.run() == ev.FINISHED, trainer.error
    return trainer


# -- resolving names ----------------------------------------------------------------------------


def test_a_dotted_module_in_the_current_directory_is_imported(plugins) -> None:
    plugins("mypkg.sub.things", "def make(config):\n    return 42\n")
    assert resolve("mypkg.sub.things:make")(None) == 42


def test_a_missing_module_or_function_is_one_line(plugins) -> None:
    plugins("present", "value = 3\n")
    with pytest.raises(PluginError) as missing:
        resolve("absent.module:build")
    assert str(missing.value) == (
        "arch: no module named 'absent' for 'absent.module:build' "
        "(looked in the current directory and PYTHONPATH)"
    )
    with pytest.raises(
        PluginError, match=r"^arch: module 'present' \(.*present.py\) has no 'build'$"
    ):
        resolve("present:build")
    with pytest.raises(PluginError, match="'present:value' is a int, not a function"):
        resolve("present:value")


def test_an_import_error_in_the_users_module_shows_only_their_frames(plugins) -> None:
    plugins("helpers", "def fail():\n    import not_installed_anywhere\n")
    path = plugins("broken", "import helpers\nhelpers.fail()\n")
    with pytest.raises(PluginError) as caught:
        resolve("broken:build", "dataset")
    message = str(caught.value)
    assert message.startswith(
        "dataset: importing 'broken' failed: ModuleNotFoundError: "
        "No module named 'not_installed_anywhere'"
    )
    assert f'File "{path}", line 2, in <module>' in message
    assert 'helpers.py", line 2, in fail' in message
    assert "importlib" not in message and "<frozen" not in message
    assert "core/plugins.py" not in message and "core" + "/" not in message.replace(str(path), "")


def test_an_exception_in_the_factory_shows_their_frames_not_tui_gans(plugins) -> None:
    plugins(
        "failing",
        """
        import torch

        def inner(config):
            return torch.zeros(2).view(3, 5)

        def build(config, hidden=8):
            return inner(config)
        """,
    )
    with pytest.raises(PluginError) as caught:
        build_models(TrainConfig(arch="failing:build", model_args={"hidden": 3}))
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0].startswith("arch: failing:build raised: RuntimeError: shape '[3, 5]'")
    assert any("in build" in line for line in lines) and any("in inner" in line for line in lines)
    # torch's frames and tui-gan's (models.py, contract.py, plugins.py) are not the user's to fix
    assert "torch/" not in message and "core/" not in message


def test_a_model_args_key_the_factory_does_not_take_is_one_line(plugins) -> None:
    plugins("tinymodels", MODELS)
    with pytest.raises(PluginError) as caught:
        build_models(TrainConfig(arch="tinymodels:build", model_args={"depth": 4}))
    assert str(caught.value) == (
        "arch: tinymodels:build: build() got an unexpected keyword argument 'depth'"
    )


# -- the config ---------------------------------------------------------------------------------


def test_arch_takes_the_built_ins_or_a_dotted_name_with_a_colon() -> None:
    assert TrainConfig(arch="pkg.mod:build").arch == "pkg.mod:build"
    for bad in ("pkg.mod:", ":build", "pkg..mod:build", "pkg.mod:build:x", "1pkg:b", "dcgan2"):
        with pytest.raises(ConfigError, match=rf"^arch: '{bad}' is not allowed; expected dcgan"):
            TrainConfig(arch=bad)
    assert TrainConfig(dataset="my.data:images").dataset == "my.data:images"
    with pytest.raises(ConfigError, match="dataset: 'my data:x' is not allowed"):
        TrainConfig(dataset="my data:x")


def test_model_args_come_from_set_as_toml_literals_and_merge() -> None:
    config = TrainConfig(arch="m:b").with_overrides(
        [
            "model_args.depth=4",
            "model_args.rate=0.5",
            "model_args.norm=true",
            'model_args.act="leaky relu"',
            "model_args.mode=bare",
        ]
    )
    assert config.model_args == {
        "depth": 4,
        "rate": 0.5,
        "norm": True,
        "act": "leaky relu",
        "mode": "bare",
    }
    assert config.with_overrides(["model_args.depth=5"]).model_args["rate"] == 0.5
    assert config.with_overrides(["model_args={width = 2}"]).model_args == {"width": 2}
    with pytest.raises(ConfigError, match=r"model_args.sizes: \[1, 2\] is not allowed"):
        config.with_overrides(["model_args.sizes=[1, 2]"])
    with pytest.raises(ConfigError, match="model_args.2x: '2x' is not a Python name"):
        config.with_overrides(["model_args.2x=1"])


def test_model_args_with_a_built_in_arch_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig().with_overrides(["model_args.depth=4"])
    assert str(caught.value) == (
        "model_args: only a plug-in arch (package.module:function) takes them, "
        "not the built-in arch='dcgan'"
    )


def test_model_args_round_trip_through_toml(tmp_path: Path) -> None:
    config = TrainConfig(arch="m.n:build", model_args={"depth": 4, "act": "relu", "p": 0.25})
    path = tmp_path / "config.toml"
    config.save_toml(path)
    assert "[model_args]" in path.read_text()
    assert TrainConfig.from_toml(path) == config
    assert "model_args" not in TrainConfig().to_toml()  # built-in configs stay flat
    path.write_text('arch = "m:b"\n[model_args]\nwidth = 3\n[other]\nx = 1\n')
    with pytest.raises(ConfigError, match=r"unexpected table \[other\]"):
        TrainConfig.from_toml(path)


# -- the contract -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "return nn.Linear(100, 10), nn.Linear(10, 1)",
            "arch: bad:build: G(z) for z of shape 2×100 must be 2×1×28×28 floats in [-1, 1]; "
            "got 2×10 float32",
        ),
        (
            "return Images(torch.float32, 3.0), nn.Sequential(nn.Flatten(), nn.Linear(784, 1))",
            "arch: bad:build: G(z) must be 2×1×28×28 floats in [-1, 1] (end G with tanh); "
            "got values in [0, 3]",
        ),
        (
            "return Images(torch.int64, 1.0), nn.Flatten()",
            "arch: bad:build: G(z) for z of shape 2×100 must be 2×1×28×28 floats in [-1, 1]; "
            "got 2×1×28×28 int64",
        ),
        (
            "return Images(torch.float32, 1.0), nn.Flatten()",
            "arch: bad:build: D(G(z)) must be 2 (or 2×1) float logits; got 2×784 float32",
        ),
        (
            "return Images(torch.float32, 1.0)",
            "arch: bad:build returned a Images; expected (G, D), two torch.nn.Modules",
        ),
        (
            "return Images(torch.float32, 1.0), 'D'",
            "arch: bad:build returned a tuple of 2 (Images, str); expected (G, D), two torch.nn.Modules",
        ),
    ],
)
def test_a_model_that_breaks_the_contract_is_refused_in_one_line(
    plugins, body: str, message: str
) -> None:
    plugins(
        "bad",
        f"""
        import torch
        from torch import nn

        class Images(nn.Module):
            def __init__(self, dtype, top):
                super().__init__()
                self.dtype, self.top = dtype, top
                self.scale = nn.Parameter(torch.ones(1))

            def forward(self, z):
                x = torch.linspace(0, self.top, 784).repeat(len(z), 1).view(-1, 1, 28, 28)
                return (x * self.scale).to(self.dtype)

        def build(config):
            {body}
        """,
    )
    with pytest.raises(PluginError) as caught:
        build_models(TrainConfig(arch="bad:build"))
    assert str(caught.value) == message


def test_the_check_leaves_the_models_and_the_rng_as_they_were(plugins) -> None:
    plugins("tinymodels", MODELS)
    config = TrainConfig(arch="tinymodels:build")
    factory = resolve(config.arch)
    torch.manual_seed(config.seed)
    factory(config)  # what the factory alone draws from the RNG; the check must draw nothing
    expected = torch.get_rng_state()
    g, d = build_models(config)
    assert torch.equal(torch.get_rng_state(), expected)
    bn = g.net[1]
    assert g.training and d.training
    assert int(bn.num_batches_tracked) == 0 and bool((bn.running_mean == 0).all())


# -- training, resume and what loads a checkpoint -----------------------------------------------


def test_half_resume_half_is_bit_identical_with_a_plug_in(plugins, tmp_path: Path) -> None:
    plugins("tinymodels", MODELS)
    straight = run(Trainer(tiny(tmp_path / "straight", max_steps=8, model_args={"hidden": 6})))
    run(Trainer(tiny(tmp_path / "split", max_steps=4, model_args={"hidden": 6})))
    checkpoint = latest_checkpoint(tmp_path / "split")
    payload = load_checkpoint(checkpoint)
    assert payload["config"]["arch"] == "tinymodels:build"
    assert payload["config"]["model_args"] == {"hidden": 6}
    resumed = run(Trainer.from_checkpoint(checkpoint, max_steps=8, arch="tinymodels:build"))
    assert resumed.config.model_args == {"hidden": 6}
    for a, b in ((straight.gan.g, resumed.gan.g), (straight.gan.d, resumed.gan.d)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pause_live_lr_and_bf16_work_on_a_plug_in(plugins, tmp_path: Path) -> None:
    plugins("tinymodels", MODELS)
    trainer = Trainer(tiny(tmp_path / "run", max_steps=6, precision="bf16"))
    answers: list[ev.Event] = []

    def steer(e: ev.Event) -> None:
        if isinstance(e, (ev.CommandDone, ev.CommandRefused)):
            answers.append(e)
        if isinstance(e, ev.StepMetrics) and e.step == 2:
            trainer.send(cmd.Pause())
            trainer.send(cmd.SetHyperparams(lr_g=5e-4))
            trainer.send(cmd.Resume())

    trainer.subscribe(steer)
    run(trainer)
    assert [type(a).__name__ for a in answers] == ["CommandDone"] * 3
    assert trainer.gan.precision == "bf16" and trainer.gan.lrs[0] == 5e-4


def test_a_plug_in_models_2d_points(plugins, tmp_path: Path) -> None:
    plugins("tinymodels", MODELS)
    config = tiny(tmp_path / "toy", dataset="ring8", subset=800, batch_size=100)
    trainer = run(Trainer(config.replace(eval_every=4, eval_samples=200)))
    assert trainer.step == 4
    result, _, step = evaluate_checkpoint(
        latest_checkpoint(tmp_path / "toy"), 200, named={"arch": "tinymodels:build"}
    )
    assert step == 4 and "modes" in result.values


@pytest.fixture
def foreign_checkpoint(plugins, tmp_path: Path) -> Path:
    """A checkpoint whose config names `evil:build`, a module that leaves a marker when imported;
    the marker and the module are gone from memory before the test begins."""
    plugins("tinymodels", MODELS)
    plugins("evil", MARKER_MODELS)
    run(Trainer(tiny(tmp_path / "run", arch="evil:build", max_steps=2)))
    (tmp_path / "imported.marker").unlink()
    del sys.modules["evil"]
    return latest_checkpoint(tmp_path / "run")


def test_no_entry_point_imports_a_checkpoints_plug_in_unnamed(
    foreign_checkpoint: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "imported.marker"
    needs = (
        f"{foreign_checkpoint}: trained with the plug-in model 'evil:build'; a checkpoint never "
        "makes tui-gan import code: name it with --set arch=evil:build to load it"
    )
    attempts = [
        lambda: sample_from_checkpoint(foreign_checkpoint, n=4),
        lambda: export_weights(foreign_checkpoint, tmp_path / "w"),
        lambda: evaluate_checkpoint(foreign_checkpoint, 10),
        lambda: load_generator(foreign_checkpoint),
        lambda: Trainer.from_checkpoint(foreign_checkpoint, max_steps=4),
        lambda: Trainer.from_checkpoint(foreign_checkpoint, named={"arch": "dcgan"}),
    ]
    for attempt in attempts:
        with pytest.raises(PluginNotNamed) as caught:
            attempt()
        assert str(caught.value).startswith(needs.split(";")[0])
        assert "evil" not in sys.modules and not marker.exists()
    with pytest.raises(PluginNotNamed) as caught:
        sample_from_checkpoint(foreign_checkpoint, named={"arch": "tinymodels:build"})
    assert "(you named 'tinymodels:build')" in str(caught.value)
    with pytest.raises(PluginNotNamed) as caught:
        sample_from_checkpoint(foreign_checkpoint)
    assert str(caught.value) == needs
    assert not marker.exists() and not (tmp_path / "w").exists()


def test_naming_the_plug_in_loads_the_checkpoint_everywhere(
    foreign_checkpoint: Path, tmp_path: Path
) -> None:
    named = {"arch": "evil:build"}
    picture = sample_from_checkpoint(foreign_checkpoint, n=4, seed=1, named=named)
    assert Image.open(picture).size[0] > 28
    assert (tmp_path / "imported.marker").exists()  # the control: naming it does import it
    files = export_weights(foreign_checkpoint, tmp_path / "w", named)
    names = {"generator.pth", "generator_ema.pth", "discriminator.pth", "config.json"}
    assert {p.name for p in files} == names
    resumed = run(Trainer.from_checkpoint(foreign_checkpoint, max_steps=3, arch="evil:build"))
    assert resumed.step == 3


# -- plug-in data sets --------------------------------------------------------------------------

DATASET = """
import numpy as np
import torch
from PIL import Image

class Mixed(torch.utils.data.Dataset):
    # every kind of item a user's data set may hold, cycling
    def __len__(self):
        return 40

    def __getitem__(self, i):
        v = (i * 6) % 256
        kind = i % 5
        if kind == 0:
            return torch.full((3, 40, 30), v, dtype=torch.uint8), i % 10  # CHW uint8 + label
        if kind == 1:
            return np.full((20, 20, 3), v, dtype=np.uint8)  # HWC array
        if kind == 2:
            return torch.full((1, 16, 16), v / 255.0)  # floats in [0, 1]
        if kind == 3:
            return Image.new("RGBA", (24, 24), (v, v, v, 255))
        return (Image.new("L", (12, 12), v), "label")

def images(config):
    return Mixed()

def floats_out_of_range(config):
    return [torch.full((1, 8, 8), -0.5)]

class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter([])

def stream(config):
    return Stream()
"""


def test_a_plug_in_data_set_is_adapted_subset_and_preloaded(plugins, tmp_path: Path) -> None:
    plugins("mydata", DATASET)
    config = TrainConfig(dataset="mydata:images", image_size=8, channels=3, subset=None)
    images = load_images(config)
    assert images.dtype == torch.uint8 and images.shape == (40, 3, 8, 8)
    for i in range(40):  # flat images stay flat through crop, resize and channel changes
        v = (i * 6) % 256
        assert int(images[i].min()) == int(images[i].max()) == v, i
    subset = load_images(config.replace(subset=10, channels=1))
    assert subset.shape == (10, 1, 8, 8)
    source = load_source(config.replace(batch_size=8), torch.device("cpu"))
    batch = next(iter(source.batches(0)))
    assert batch.shape == (8, 3, 8, 8) and float(batch.min()) >= -1 and float(batch.max()) <= 1


def test_a_plug_in_data_set_too_large_to_preload_streams_the_same_batches(plugins) -> None:
    plugins("mydata", DATASET)
    config = TrainConfig(
        dataset="mydata:images", image_size=8, channels=3, batch_size=8, data_workers=0, seed=3
    )
    preloaded = load_source(config.replace(subset=30), torch.device("cpu"))
    streamed = load_source(config.replace(subset=30, preload_gb=0), torch.device("cpu"))
    assert isinstance(preloaded, TensorSource) and isinstance(streamed, StreamSource)
    assert "streams from disk" in streamed.note
    for epoch, start in ((0, 0), (1, 2)):  # the same seeded order, also from mid-epoch
        batches = zip(preloaded.batches(epoch, start), streamed.batches(epoch, start), strict=True)
        for x, y in batches:
            assert torch.equal(x, y)


def test_a_plug_in_data_set_that_is_not_images_is_one_line(plugins) -> None:
    plugins("mydata", DATASET)
    with pytest.raises(DataError) as caught:
        load_images(TrainConfig(dataset="mydata:floats_out_of_range"))
    assert str(caught.value) == (
        "dataset: mydata:floats_out_of_range: item 0: float pixels in [-0.5, -0.5]; "
        "expected [0, 1] (torchvision's ToTensor) or uint8 0..255"
    )
    with pytest.raises(DataError, match="returned a Stream; expected a map-style"):
        load_images(TrainConfig(dataset="mydata:stream"))


def test_item_to_chw_composites_alpha_greys_by_luma_and_crops_the_centre() -> None:
    rgba = Image.new("RGBA", (4, 4), (200, 100, 0, 128))
    assert item_to_chw(rgba, 3, 4)[:, 0, 0].tolist() == [100, 50, 0]  # on black, half alpha
    grey = item_to_chw(np.full((4, 4, 3), (255, 0, 0), dtype=np.uint8), 1, 4)
    assert grey.shape == (1, 4, 4) and int(grey[0, 0, 0]) == round(0.299 * 255)
    wide = torch.zeros(1, 4, 12, dtype=torch.uint8)
    wide[:, :, 4:8] = 255  # a bright centre square between dark sides
    assert bool((item_to_chw(wide, 1, 4) == 255).all())
    sixteen = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert int(item_to_chw(sixteen, 1, 4).min()) == 255
    assert int(item_to_chw(torch.full((4, 4), 200), 1, 4).min()) == 200  # int64 0..255
    with pytest.raises(DataError, match="torch.int64 pixels outside 0..255"):
        item_to_chw(torch.full((4, 4), 300), 1, 4)
    with pytest.raises(DataError, match="a str is not an image"):
        item_to_chw("cat.png", 3, 4)
