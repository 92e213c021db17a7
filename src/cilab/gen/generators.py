"""What a run directory samples with, whatever model it holds.

`cilab gen eval` judges any generator the same way, so each model kind gets a loader in
`GENERATORS` (looked up by the run's config.json `model`) that returns a `RunGenerator`: how to
draw its latents, how to decode them, and its critic where it has one. `dcgan` samples the
generator (its averaged weights where kept, or the `weights` asked for; precise BatchNorm
statistics) and brings its discriminator; `vae` decodes prior draws z ~ N(0, I) to Bernoulli means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from cilab.core.errors import CilabError
from cilab.core.io import read_json
from cilab.gen.jacobian import Decode
from cilab.gen.rejection import Critic, Sampler


@dataclass
class RunGenerator:
    """What a run directory samples with: latents from `noise` (z ~ N(0, T^2 I), then a DCGAN's
    continuous and categorical codes where it has them) through the decoder that
    `decoder(stream)` builds (a DCGAN's with precise BatchNorm statistics drawn from the stream
    first; call it under no_grad), and the model's critic where it has one (a DCGAN's
    discriminator)."""

    config: Any
    noise: Callable[[int, torch.Generator, float], torch.Tensor]  # (n, stream, T) -> [n, d]
    noise_dims: int  # the latent's leading Gaussian columns (Jacobian probes move only those)
    decoder: Callable[[torch.Generator], Decode]  # stream -> (latents [N, d] -> images in [0, 1])
    critic: Critic | None

    def sampler(self) -> Sampler:
        """Plain sampling: the model's own prior, scaled by the temperature."""

        def sample(n: int, stream: torch.Generator, temperature: float) -> torch.Tensor:
            decode = self.decoder(stream)
            return decode_all(decode, self.noise(n, stream, temperature))

        return sample


@torch.no_grad()
def decode_all(decode: Decode, z: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """`decode` over `z`, `batch` rows at a time without autograd (bounded memory): latents
    [N, d] -> images [N, 1, 28, 28], or images -> a critic's scores."""
    return torch.cat([decode(z[s : s + batch]) for s in range(0, len(z), batch)])


def _dcgan_generator(
    run_dir: Path, checkpoint: str, device: torch.device, weights: str = "average"
) -> RunGenerator:
    from cilab.gen.gan_train import load_gan_run

    cfg, gan = load_gan_run(run_dir, checkpoint, device)
    try:
        gan.select_weights(weights)
    except ValueError as e:
        raise CilabError(f"{run_dir}: {e}") from None

    def critic(images: torch.Tensor) -> torch.Tensor:  # eval mode: no dropout, fixed SN vectors
        return decode_all(gan.discriminator, images.mul(2).sub(1))  # [0, 1] -> D's [-1, 1]

    return RunGenerator(
        cfg,
        noise=gan.generator.latent,
        noise_dims=cfg.noise_dim,
        decoder=partial(gan.decoder, precise_bn=cfg.precise_bn),
        critic=None if cfg.conditional else critic,  # a conditional D scores (image, label)
    )


def _vae_generator(
    run_dir: Path, checkpoint: str, device: torch.device, weights: str = "average"
) -> RunGenerator:
    from cilab.gen.run_eval import load_run

    if weights != "average":
        raise CilabError(f"{run_dir}: a VAE has one set of weights; --weights is a DCGAN's")

    cfg, model = load_run(run_dir, checkpoint, device)  # type: ignore[arg-type]
    decode: Decode = lambda z: torch.sigmoid(model.decode(z))  # noqa: E731 (Bernoulli means)

    def latent(n: int, stream: torch.Generator, temperature: float) -> torch.Tensor:
        return torch.randn((n, cfg.latent_dim), generator=stream, device=device) * temperature

    return RunGenerator(cfg, latent, cfg.latent_dim, lambda _stream: decode, None)


# (run_dir, checkpoint, device, weights) -> RunGenerator; weights: see DCGAN.select_weights
GENERATORS: dict[str, Callable[[Path, str, torch.device, str], RunGenerator]] = {
    "dcgan": _dcgan_generator,
    "vae": _vae_generator,
}


def run_model(run_dir: str | Path) -> str:
    """The `model` a run directory was trained as (from its config.json)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise CilabError(f"{path}: missing; is {run_dir} a cilab run directory?")
    return str(read_json(path).get("model"))
