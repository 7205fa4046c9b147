"""Source of plug-in modules the tests write (with the `plugins` fixture of tests/conftest.py)."""

# A tiny G and D with what makes exact resume hard: batch norm buffers and dropout's RNG draws.
MODELS = """
import torch
from torch import nn

TOY = ("ring8", "grid25")


class G(nn.Module):
    def __init__(self, latent, shape, hidden):
        super().__init__()
        self.shape = shape
        self.net = nn.Sequential(
            nn.Linear(latent, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(hidden, int(torch.Size(shape).numel())),
        )
        self.squash = shape != (2,)

    def forward(self, z):
        out = self.net(z).view(-1, *self.shape)
        return torch.tanh(out) if self.squash else out


def build(config, hidden=8, flat_logits=False):
    shape = (2,) if config.dataset in TOY else (config.channels, config.image_size, config.image_size)
    n = int(torch.Size(shape).numel())
    d = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.2),
                      nn.Linear(hidden, 1))  # N×1 logits: the contract allows them
    if flat_logits:
        d.append(nn.Flatten(0))
    return G(config.latent_dim, shape, hidden), d
"""

# A module that leaves a marker file beside itself when imported: no checkpoint may import it.
MARKER_MODELS = """
from pathlib import Path
Path(__file__).with_name("imported.marker").write_text("imported")
from tinymodels import build
"""
