"""A small digit classifier trained once on the embedded MNIST digits, cached per user.

Its 128-d penultimate features give a Fréchet distance for digits ("FID (digits)") and its
predictions give class coverage, without Inception weights or a network.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.cachedir import cache_dir
from core.data import load_mnist5k_labelled, mnist5k_path
from core.metrics import class_metrics, feature_stats, frechet_distance
from core.rundir import atomic_write

VERSION = 1
EPOCHS = 6
HELD_OUT_EVERY = 5  # every 5th digit (100 of each class) is held out for the reference values

Progress = Callable[[str, float], None]


class DigitNet(nn.Module):
    """Two conv-pool blocks and a 128-unit feature layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)  # a Module call is Any to the type checker
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.body(x))
        return out


def _data_hash() -> str:
    return hashlib.sha256(mnist5k_path().read_bytes()).hexdigest()[:16]


def to_digit_input(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] of any size and channel count → 1×28×28 in [-1, 1]."""
    x = images.detach().float()  # on the images' device: scoring on the GPU keeps them there
    if x.shape[1] == 3:
        x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(
            1, keepdim=True
        )
    if x.shape[-1] != 28 or x.shape[-2] != 28:
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(-1, 1)


def _split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    images, labels = load_mnist5k_labelled()
    x = images.float().div(127.5).sub(1)
    held = torch.arange(len(x)) % HELD_OUT_EVERY == 0
    return x[~held], labels[~held], x[held], labels[held]


class DigitJudge:
    """The trained classifier with the real digits' feature statistics and reference values."""

    def __init__(
        self, net: DigitNet, mu: torch.Tensor, cov: torch.Tensor, reference: dict[str, float]
    ) -> None:
        self.net, self.mu, self.cov, self.reference = net.eval(), mu, cov, reference

    def to(self, device: torch.device) -> DigitJudge:
        """Run the classifier on `device` (the feature statistics stay on the host, in float64)."""
        self.net.to(device)
        return self

    @torch.no_grad()
    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_digit_input(images.to(next(self.net.parameters()).device))
        feats, probs = [], []
        for i in range(0, len(x), 500):
            f = self.net.features(x[i : i + 500])
            feats.append(f)
            probs.append(self.net.head(f).softmax(1))
        return torch.cat(feats), torch.cat(probs)

    def score(self, images: torch.Tensor) -> dict[str, float]:
        """FID (digits), classes covered, class KL and confidence of a batch of images in [-1, 1]."""
        feats, probs = self._run(images)
        mu, cov = feature_stats(feats)
        return {"fid_digits": frechet_distance(mu, cov, self.mu, self.cov), **class_metrics(probs)}


def train_judge(
    progress: Progress | None = None, seed: int = 0, epochs: int = EPOCHS
) -> tuple[DigitJudge, float]:
    """Train the classifier from scratch on 4,000 digits; returns it and its held-out accuracy."""
    x_train, y_train, x_held, y_held = _split()
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    net = DigitNet()
    torch.set_rng_state(torch_state)  # leave the caller's RNG (a training run's) untouched
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = (len(x_train) + 63) // 64
    for epoch in range(epochs):
        order = torch.randperm(len(x_train), generator=gen)
        net.train()
        for b in range(batches):
            idx = order[b * 64 : (b + 1) * 64]
            # A one-pixel random shift makes the features robust to the small jitter of generated digits.
            dx, dy = torch.randint(-1, 2, (2,), generator=gen).tolist()
            xb = torch.roll(x_train[idx], shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(net(xb), y_train[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves backward unannotated
            opt.step()
            if progress:
                progress(
                    "training the digit classifier", (epoch * batches + b + 1) / (epochs * batches)
                )
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x_held).argmax(1) == y_held).float().mean())
        mu, cov = feature_stats(net.features(x_train))
    judge = DigitJudge(net, mu, cov, {})
    judge.reference = judge.score(x_held)
    return judge, accuracy


def load_judge(progress: Progress | None = None) -> DigitJudge:
    """The cached classifier for this data file and code version, trained (and cached) when missing."""
    path = cache_dir() / f"digits-v{VERSION}-{_data_hash()}.pt"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        net = DigitNet()
        net.load_state_dict(saved["net"])
        return DigitJudge(net, saved["mu"], saved["cov"], dict(saved["reference"]))
    except Exception:  # a missing, stale or damaged cache is simply retrained
        pass
    judge, accuracy = train_judge(progress)
    buffer = io.BytesIO()
    torch.save(
        {
            "net": judge.net.state_dict(),
            "mu": judge.mu,
            "cov": judge.cov,
            "reference": judge.reference,
            "accuracy": accuracy,
        },
        buffer,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buffer.getvalue())
    except OSError:
        pass  # an unwritable cache only costs a retrain next time
    return judge
