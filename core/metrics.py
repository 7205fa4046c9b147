"""Sample-quality metrics that work offline: mode coverage on 2-D toys, Fréchet distances, KID."""

from __future__ import annotations

import torch

from core.data import is_toy, toy_modes

# VEEGAN/PacGAN: high quality = within 3 standard deviations of the nearest mode
TOY_QUALITY_STDS = 3.0

DIGIT_DATASETS = ("mnist5k", "mnist")


def metric_kind(dataset: str) -> str:
    """Which metrics a data set is scored with: "toy", "digits" or "images" (keys of core.metricdirection.KIND_METRICS)."""
    return "toy" if is_toy(dataset) else ("digits" if dataset in DIGIT_DATASETS else "images")


def toy_mode_metrics(points: torch.Tensor, dataset: str) -> dict[str, float]:
    """Modes covered, % high-quality samples and reverse KL of the high-quality mode histogram vs uniform.

    Definitions of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018).
    """
    means, std = toy_modes(dataset)
    pts = points.detach().double().cpu()
    pts = pts[torch.isfinite(pts).all(1)]
    k = len(means)
    if len(pts) == 0:
        return {"modes": 0.0, "high_quality": 0.0, "reverse_kl": float("inf"), "n_modes": float(k)}
    dist = torch.cdist(pts, means.double())
    nearest_dist, nearest = dist.min(1)
    good = nearest_dist <= TOY_QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=k).double()
    covered = int((counts > 0).sum())
    high_quality = float(good.double().mean() * 100)
    if counts.sum() == 0:
        reverse_kl = float("inf")
    else:
        p = counts / counts.sum()
        nz = p > 0
        reverse_kl = float((p[nz] * (p[nz] * k).log()).sum())
    return {
        "modes": float(covered),
        "high_quality": high_quality,
        "reverse_kl": reverse_kl,
        "n_modes": float(k),
    }


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of N×D features, in float64."""
    f = features.detach().double().cpu()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / max(len(f) - 1, 1)


def frechet_distance(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """Fréchet distance of two Gaussians: |mu1-mu2|² + tr(C1 + C2 - 2 (C1 C2)^½)."""
    # tr((C1 C2)^½) = Σ √λ of the symmetric PSD matrix C1^½ C2 C1^½, stable through eigh.
    vals, vecs = torch.linalg.eigh(cov1)
    root1 = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T
    middle = root1 @ cov2 @ root1
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(cov1) + torch.trace(cov2) - 2 * trace_root)


def kernel_inception_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 10,
    subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """KID (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial kernel, averaged over subsets."""
    real, fake = real.double().cpu(), fake.double().cpu()
    d = real.shape[1]
    m = min(subset_size, len(real), len(fake))
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=gen)[:m]]
        y = fake[torch.randperm(len(fake), generator=gen)[:m]]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        off = m * (m - 1)
        total += float(
            (kxx.sum() - kxx.diag().sum()) / off
            + (kyy.sum() - kyy.diag().sum()) / off
            - 2 * kxy.mean()
        )
    return total / subsets


def class_metrics(probs: torch.Tensor, n_classes: int = 10) -> dict[str, float]:
    """Class coverage (classes holding ≥ 1/20 of the samples), KL of the predicted class histogram
    vs uniform, and mean top-class confidence."""
    probs = probs.detach().double().cpu()
    top_conf, top = probs.max(1)
    hist = torch.bincount(top, minlength=n_classes).double() / len(top)
    covered = int((hist >= 1 / 20).sum())
    nz = hist > 0
    kl = float((hist[nz] * (hist[nz] * n_classes).log()).sum())
    return {"classes": float(covered), "class_kl": kl, "confidence": float(top_conf.mean())}
