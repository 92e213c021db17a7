"""Generative models, registered by name.

Every likelihood model (`ae`, `vae`) has the same small interface, which the trainer and the
evaluator rely on:

- `encode(x)`: the encoder's output (AE: z; VAE: (mu, logvar)).
- `embed(x) -> Tensor[B, D]`: a deterministic code for plots and k-NN (AE: z; VAE: mu).
- `decode(z) -> Tensor[B, 1, 28, 28]`: Bernoulli logits.
- `noise_shape(batch_size) -> tuple | None`: the shape of the Gaussian noise one training step
  needs (drawn by the trainer from a seeded stream so resumed and distributed runs are exact).
- `loss(x, target, noise) -> LossOutput`: the training objective and its parts.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cilab.core.errors import CilabError
from cilab.gen.models.ae import AutoEncoder
from cilab.gen.models.vae import VAE

MODELS: dict[str, Callable[..., nn.Module]] = {
    "ae": AutoEncoder,
    "vae": VAE,
}


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build a registered model; an unknown name lists the valid ones."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise CilabError(
            f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}"
        ) from None
    return builder(**kwargs)
