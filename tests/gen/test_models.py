"""Shape and gradient tests for every registered generative model and architecture."""

from __future__ import annotations

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.gen.models import MODELS, build_model
from cilab.gen.models.conv import ARCHS


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_and_backward(name: str, arch: str) -> None:
    model = build_model(name, latent_dim=3, arch=arch)
    x = torch.rand(5, 1, 28, 28)
    assert model.embed(x).shape == (5, 3)
    assert model.decode(torch.randn(5, 3)).shape == (5, 1, 28, 28)
    out = model.loss(x, x)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(CilabError, match="ae, vae"):
        build_model("gan-of-doom")


def test_vae_decode_keeps_sample_dims() -> None:
    model = build_model("vae", latent_dim=2)
    assert model.decode(torch.randn(4, 3, 2)).shape == (4, 3, 1, 28, 28)


def test_reparameterize_is_mu_plus_sigma_eps_and_differentiable() -> None:
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2.0 * torch.log(torch.tensor(3.0)).item()]], requires_grad=True)
    eps = torch.tensor([[0.5, -1.0]])
    z = build_model("vae").reparameterize(mu, logvar, eps)
    assert torch.allclose(z, torch.tensor([[1.5, -5.0]]))
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones(1, 2))
    # dz/dlogvar = 0.5 * sigma * eps
    assert torch.allclose(logvar.grad, torch.tensor([[0.25, -1.5]]))


def test_vae_loss_parts_add_up_and_use_given_noise() -> None:
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2)
    x = torch.rand(6, 1, 28, 28)
    noise = torch.randn(1, 6, 2)
    a, b = model.loss(x, x, noise), model.loss(x, x, noise)
    assert torch.equal(a.loss, b.loss)  # deterministic given the noise
    assert torch.allclose(a.loss, a.parts["recon"] + a.parts["kl"], rtol=1e-6)
    assert a.parts["kl"] >= 0


def test_iw_training_bound_is_tighter_than_elbo() -> None:
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, iw_train_samples=64)
    x = (torch.rand(8, 1, 28, 28) > 0.5).float()
    out = model.loss(x, x)
    # -IW bound <= -ELBO estimate with the same samples (Jensen), up to float error.
    assert out.loss <= out.parts["neg_elbo"] + 1e-4


def test_ae_loss_is_summed_bce_averaged_over_batch() -> None:
    model = build_model("ae", latent_dim=2)
    x = torch.rand(3, 1, 28, 28)
    logits = model(x)
    p = torch.sigmoid(logits)
    manual = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=(1, 2, 3)).mean()
    assert torch.allclose(model.loss(x, x).loss, manual, rtol=1e-4)
