"""Discriminator rejection sampling, checked where the answer is known: N(0, 1) proposals and
the exact log density ratio of N(1, 1) to N(0, 1), x - 1/2."""

from __future__ import annotations

import math

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.gen.rejection import acceptance_probability, check_quantile, rejection_sampler


def normal(n: int, stream: torch.Generator, temperature: float) -> torch.Tensor:
    return torch.randn((n, 1), generator=stream) * temperature  # [n, 1], like images [n, ...]


def log_ratio(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0] - 0.5  # log N(x; 1, 1) - log N(x; 0, 1)


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_acceptance_probability_is_the_capped_ratio() -> None:
    p = acceptance_probability(torch.tensor([0.0, 1.0, 2.0]), 1.0)
    torch.testing.assert_close(p, torch.tensor([math.exp(-1), 1.0, 1.0]))


def test_cap_at_the_maximum_turns_the_proposal_into_the_target() -> None:
    stats: dict[str, float] = {}
    draw = rejection_sampler(normal, log_ratio, quantile=1.0, stats=stats)
    x = draw(20_000, torch.Generator().manual_seed(0), 1.0)[:, 0]
    assert x.shape == (20_000,)
    assert abs(x.mean().item() - 1.0) < 0.03 and abs(x.std().item() - 1.0) < 0.03  # N(1, 1)
    # E_{N(0,1)} exp(x - 1/2 - M) = exp(-M): the envelope's acceptance rate (3 % here).
    assert stats["acceptance_rate"] == pytest.approx(math.exp(-stats["rejection_cap"]), rel=0.05)


def test_a_lower_cap_accepts_what_the_capped_ratio_says() -> None:
    stats: dict[str, float] = {}
    draw = rejection_sampler(normal, log_ratio, quantile=0.5, stats=stats)
    x = draw(20_000, torch.Generator().manual_seed(1), 1.0)[:, 0]
    m = stats["rejection_cap"]
    assert m == pytest.approx(-0.5, abs=0.05)  # the median logit
    # E min(1, exp(x - 1/2 - M)) = exp(-M) Phi(M - 1/2) + 1 - Phi(M + 1/2)
    expected = math.exp(-m) * phi(m - 0.5) + 1 - phi(m + 0.5)
    assert stats["acceptance_rate"] == pytest.approx(expected, abs=0.01)
    assert 0.2 < x.mean().item() < 1.0  # tilted towards the target, not all the way


def test_the_same_stream_gives_the_same_samples_and_exactly_n() -> None:
    draw = rejection_sampler(normal, log_ratio, quantile=0.9, burn_in=500)
    a = draw(777, torch.Generator().manual_seed(3), 0.5)
    b = draw(777, torch.Generator().manual_seed(3), 0.5)
    assert a.shape == (777, 1) and torch.equal(a, b)


def test_the_burn_in_hook_sees_the_draws_that_set_the_cap() -> None:
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    stats: dict[str, float] = {}
    draw = rejection_sampler(
        normal, log_ratio, 0.9, stats, burn_in=300, on_burn_in=lambda x, lg: seen.append((x, lg))
    )
    draw(50, torch.Generator().manual_seed(4), 1.0)
    ((x, lg),) = seen
    assert x.shape == (300, 1)
    torch.testing.assert_close(lg, log_ratio(x))
    assert stats["rejection_cap"] == pytest.approx(torch.quantile(lg, 0.9).item())


def test_a_hopeless_acceptance_rate_and_bad_quantiles_are_refused() -> None:
    draw = rejection_sampler(normal, lambda x: 100 * x[:, 0], quantile=1.0)
    with pytest.raises(CilabError, match=r"would accept 0\.0"):
        draw(10, torch.Generator().manual_seed(0), 1.0)
    for q in (0.0, 1.5):
        with pytest.raises(CilabError, match=r"rejection quantile must be in \(0, 1\]"):
            check_quantile(q)
