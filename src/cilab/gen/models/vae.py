"""The exercise's variational autoencoder with a diagonal-Gaussian posterior q(z|x)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cilab.gen.models.conv import Arch, ConvDecoder, ConvEncoder
from cilab.gen.objectives import (
    LossOutput,
    bernoulli_log_likelihood,
    diag_gaussian_log_prob,
    iw_bound,
    kl_to_standard_normal,
    reparameterize,
    standard_normal_log_prob,
)


@dataclass(frozen=True)
class VAEConfig:
    """The VAE's shape and its loss's knobs (β, IW samples), kept on the model as `.config`."""

    latent_dim: int = 2
    arch: Arch = "exercise"
    beta: float = 1.0  # weight of the KL term (beta-VAE); 1 is the ELBO
    iw_train_samples: int = 1  # K > 1 trains on the K-sample importance-weighted bound (IWAE)


class VAE(nn.Module):
    """Encoder -> (mu, log sigma^2) -> z = mu + sigma * eps -> decoder -> Bernoulli logits."""

    def __init__(
        self,
        latent_dim: int = 2,
        arch: Arch = "exercise",
        beta: float = 1.0,
        iw_train_samples: int = 1,
        **_: object,
    ) -> None:
        super().__init__()
        if iw_train_samples < 1:
            raise ValueError("iw_train_samples must be >= 1")
        self.config = VAEConfig(latent_dim, arch, beta, iw_train_samples)
        self.encoder = ConvEncoder(2 * latent_dim, arch)
        self.decoder = ConvDecoder(latent_dim, arch)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns mu and log sigma^2, each [B, D]."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[0]

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps: a deterministic function of (mu, sigma), so gradients flow."""
        return reparameterize(mu, logvar, eps)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits for z of shape [..., D]; leading sample dims are kept: [..., 1, 28, 28]."""
        lead = z.shape[:-1]
        logits = self.decoder(z.reshape(-1, z.shape[-1]))  # [prod(lead), 1, 28, 28]
        return logits.view(*lead, *logits.shape[1:])

    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return (self.config.iw_train_samples, batch_size, self.config.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits at the posterior mean (deterministic, for figures)."""
        return self.decode(self.embed(x))

    def loss(
        self, x: torch.Tensor, target: torch.Tensor, noise: torch.Tensor | None = None
    ) -> LossOutput:
        """Negative ELBO (K = 1) or negative K-sample IW bound, nats per image, batch mean.

        `noise` is eps ~ N(0, I) of shape [K, B, D]; drawn here when not given.
        """
        mu, logvar = self.encode(x)  # [B, D] each
        if noise is None:
            noise = torch.randn(self.noise_shape(x.shape[0]), device=x.device, dtype=mu.dtype)
        z = self.reparameterize(mu, logvar, noise)  # [K, B, D]
        log_px_z = bernoulli_log_likelihood(self.decode(z), target)  # [K, B]
        kl = kl_to_standard_normal(mu, logvar)  # [B]
        recon = -log_px_z.mean(0)  # [B]
        parts = {"recon": recon.mean().detach(), "kl": kl.mean().detach()}
        if noise.shape[0] == 1:
            loss = (recon + self.config.beta * kl).mean()
            parts["neg_elbo"] = (recon + kl).mean().detach()
        else:
            log_w = log_px_z + self.config.beta * (
                standard_normal_log_prob(z) - diag_gaussian_log_prob(z, mu, logvar)
            )  # [K, B]
            loss = -iw_bound(log_w).mean()
            parts["neg_elbo"] = (recon + kl).mean().detach()
        return LossOutput(loss=loss, parts=parts)
