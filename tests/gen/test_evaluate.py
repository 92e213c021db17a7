"""Evaluation numbers against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cilab.gen import evaluate
from cilab.gen.evaluate import embed_all, iw_log_likelihood, knn_accuracy
from cilab.gen.models import build_model
from cilab.gen.objectives import bernoulli_log_likelihood


def z_blind_vae(posterior_bias: float) -> torch.nn.Module:
    """A VAE whose decoder ignores z, so log p(x) = log p(x | any z) is known exactly."""
    model = build_model("vae", latent_dim=2)
    with torch.no_grad():
        model.decoder.stem[0].weight.zero_()
        model.encoder.head.weight.zero_()
        model.encoder.head.bias.fill_(posterior_bias)  # mu = logvar = bias for every image
    return model.eval()


def images(n: int = 6) -> torch.Tensor:
    return (torch.rand(n, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)


def exact_log_px(model: torch.nn.Module, x_u8: torch.Tensor) -> torch.Tensor:
    x = x_u8.unsqueeze(1).float() / 255
    return bernoulli_log_likelihood(model.decode(torch.zeros(len(x), 2)), x).double()


@torch.no_grad()
@pytest.mark.parametrize("k", [1, 7, 300])
def test_iw_estimate_is_exact_when_q_is_the_prior(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    model, x = z_blind_vae(0.0), images()
    monkeypatch.setattr(evaluate, "MAX_CHUNK_IMAGES", 12)  # force several chunks per batch
    est = iw_log_likelihood(model, x, k=k, seed=0, batch_size=4)
    torch.testing.assert_close(est, exact_log_px(model, x), rtol=0, atol=1e-3)


@torch.no_grad()
def test_iw_estimate_rises_towards_log_px_with_k() -> None:
    model, x = z_blind_vae(0.7), images(200)  # q = N(0.7, e^0.7) != prior
    exact = exact_log_px(model, x)
    gaps = [(exact - iw_log_likelihood(model, x, k=k, seed=1)).mean().item() for k in (1, 10, 100)]
    # The K = 1 gap is KL(q || p) = 0.8 nats; a lower bound that tightens with K.
    assert gaps[0] == pytest.approx(0.8, abs=0.2)
    assert gaps[0] > gaps[1] > gaps[2] > -0.02
    assert gaps[2] < 0.1 * gaps[0]


def test_knn_accuracy_on_separable_and_random_codes() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    centers = rng.normal(size=(10, 2)) * 100
    codes = centers[labels] + rng.normal(size=(200, 2))
    assert knn_accuracy(codes, labels, codes + 0.1, labels) == 1.0
    shuffled = rng.permutation(labels)
    assert knn_accuracy(codes, shuffled, codes, labels) < 0.35


@torch.no_grad()
def test_embed_all_is_the_posterior_mean_in_batches() -> None:
    model, x = build_model("vae", latent_dim=3).eval(), images(7)
    codes = embed_all(model, x, batch_size=3)
    expected = model.encode(x.unsqueeze(1).float() / 255)[0].numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
