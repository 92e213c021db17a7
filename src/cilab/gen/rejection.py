"""Discriminator rejection sampling (Azadi et al. 2019): keep the samples a GAN's own
discriminator finds real, in proportion to how real it finds them.

A discriminator trained to optimum against the generator's distribution p_g has the logit
D(x) = log p_data(x) / p_g(x). Drawing x ~ p_g and accepting it with probability
exp(D(x) - M), M >= max D, is then exact rejection sampling of p_data, with p_g times e^M as
the envelope. A real discriminator is neither optimal nor trained against the averaged
generator's samples, so its largest logits are its least trustworthy: M is the `quantile` q of
the logits of a burn-in draw, and ratios above it are capped (accepted always). q = 1 is the
paper's maximum; smaller q rejects less and leans less on the discriminator's extremes.

Nothing here knows about images: `rejection_sampler` wraps any sampler with any critic, which
keeps the exact case testable (two Gaussians, whose log density ratio is known).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cilab.core.errors import CilabError
from cilab.gen.filtering import BURN_IN, draw_kept

# (n, stream, temperature) -> n samples (`cilab.gen.sample_eval` draws images with it).
Sampler = Callable[[int, torch.Generator, float], torch.Tensor]
Critic = Callable[[torch.Tensor], torch.Tensor]  # samples [N, ...] -> logits [N]

MIN_ACCEPTANCE = 0.01  # below this the discriminator, not the generator, makes the samples


def acceptance_probability(logits: torch.Tensor, cap: torch.Tensor | float) -> torch.Tensor:
    """min(1, exp(logit - cap)): the density ratio's share of its capped maximum."""
    return torch.exp((logits - cap).clamp(max=0.0))


def check_quantile(quantile: float) -> None:
    """Refuse a cap quantile outside (0, 1]."""
    if not 0.0 < quantile <= 1.0:
        raise CilabError(f"rejection quantile must be in (0, 1], not {quantile}")


def rejection_sampler(
    sampler: Sampler,
    critic: Critic,
    quantile: float,
    stats: dict[str, float] | None = None,
    burn_in: int | None = None,
    on_burn_in: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> Sampler:
    """A sampler of the accepted draws of `sampler` (module docstring); `stats`, when given,
    receives the cap and the acceptance rate of the last call, `on_burn_in` the burn-in's
    samples and logits (to show what the critic likes least and most).

    Each call draws `burn_in` (default `BURN_IN`) samples for the cap, then candidates sized
    by the burn-in's mean acceptance (`cilab.gen.filtering.draw_kept`).
    """
    check_quantile(quantile)

    def sample(n: int, stream: torch.Generator, temperature: float) -> torch.Tensor:
        burn_x = sampler(burn_in or BURN_IN, stream, temperature)
        burn = critic(burn_x)
        if on_burn_in is not None:
            on_burn_in(burn_x, burn)
        cap = torch.quantile(burn.float(), quantile)
        rate = acceptance_probability(burn, cap).mean().item()
        if rate < MIN_ACCEPTANCE:
            raise CilabError(
                f"rejection sampling would accept {rate:.2%} of the samples: the "
                "discriminator's logits are too spread out; use a lower quantile"
            )

        def accept(batch: torch.Tensor) -> torch.Tensor:
            p = acceptance_probability(critic(batch), cap)
            return torch.rand(p.shape, generator=stream, device=p.device) < p

        draw = lambda m: sampler(m, stream, temperature)  # noqa: E731
        kept, share = draw_kept(n, draw, accept, rate)
        if stats is not None:
            stats.update(rejection_cap=cap.item(), acceptance_rate=share)
        return kept

    return sample
