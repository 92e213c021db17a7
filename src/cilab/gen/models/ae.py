"""The exercise's deterministic autoencoder: the VAE's networks without the sampling layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cilab.gen.models.conv import Arch, ConvDecoder, ConvEncoder
from cilab.gen.objectives import LossOutput, bernoulli_log_likelihood


@dataclass(frozen=True)
class AEConfig:
    """The autoencoder's shape (latent size, architecture), kept on the model as `.config`."""

    latent_dim: int = 2
    arch: Arch = "exercise"


class AutoEncoder(nn.Module):
    """x -> z = encoder(x) -> Bernoulli logits; trained on the reconstruction term alone."""

    def __init__(self, latent_dim: int = 2, arch: Arch = "exercise", **_: object) -> None:
        super().__init__()
        self.config = AEConfig(latent_dim, arch)
        self.encoder = ConvEncoder(latent_dim, arch)
        self.decoder = ConvDecoder(latent_dim, arch)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def noise_shape(self, batch_size: int) -> tuple[int, ...] | None:
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(
        self, x: torch.Tensor, target: torch.Tensor, noise: torch.Tensor | None = None
    ) -> LossOutput:
        """Negative Bernoulli log-likelihood, summed over pixels, averaged over the batch."""
        recon = -bernoulli_log_likelihood(self(x), target).mean()
        return LossOutput(loss=recon, parts={"recon": recon.detach()})
