"""Jacobian-based truncation, checked on decoders whose Jacobian is known in closed form."""

from __future__ import annotations

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.gen.jacobian import check_keep, check_norm, jacobian_norms, truncated_noise


def stream(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_norms_of_a_linear_decoder_estimate_its_frobenius_norm() -> None:
    a = torch.randn((30, 5), generator=stream(1))  # G(z) = A z: J = A everywhere
    z = torch.randn((200, 5), generator=stream(2))
    norms = jacobian_norms(lambda x: x @ a.T, z, stream(3), probes=4, norm="absolute")
    # Hutchinson: each squared estimate is unbiased, so their mean over 200 rows is close.
    assert norms.square().mean().item() == pytest.approx(a.square().sum().item(), rel=0.1)
    many = jacobian_norms(lambda x: x @ a.T, z[:5], stream(4), probes=2000, norm="absolute")
    torch.testing.assert_close(many, a.norm().expand(5), rtol=0.05, atol=0.0)


def test_relative_norms_ignore_the_images_scale() -> None:
    """Ten times the ink, ten times the plain norm; the relative norm ‖J‖ / ‖G(z)‖ stays."""
    a = torch.randn((30, 5), generator=stream(1))
    z = torch.randn((50, 5), generator=stream(2))
    plain, bold = (
        jacobian_norms(lambda x, c=c: c * x @ a.T, z, stream(3), norm="absolute")
        for c in (1.0, 10.0)
    )
    torch.testing.assert_close(bold, 10 * plain, rtol=1e-4, atol=0.0)  # finite differences
    rel = [jacobian_norms(lambda x, c=c: c * x @ a.T, z, stream(3))
           for c in (1.0, 10.0)]  # fmt: skip
    torch.testing.assert_close(rel[0], rel[1], rtol=1e-4, atol=0.0)
    torch.testing.assert_close(rel[0], plain / (z @ a.T).norm(dim=1))


def test_norms_follow_a_nonlinear_decoder_pointwise() -> None:
    """G(z) = tanh(k z_0) over 2-D noise: ‖J‖ = k sech²(k z_0), whatever z_1 is."""
    k = 3.0
    z = torch.tensor([[-1.0, 0.5], [0.0, 2.0], [0.2, -1.0], [0.8, 0.0]])
    norms = jacobian_norms(
        lambda x: torch.tanh(k * x[:, :1]), z, stream(), probes=4000, eps=1e-4, norm="absolute"
    )
    exact = k / torch.cosh(k * z[:, 0]).square()
    # Only v_0 of the 2-D probe moves the output: E[v_0^2] = 1 gives the norm itself.
    torch.testing.assert_close(norms, exact, rtol=0.05, atol=1e-4)


def test_truncation_drops_the_noise_where_the_decoder_is_steep() -> None:
    """tanh(10 z): a cliff at z = 0 between two flat plateaus, like a generator's jump from one
    digit to another. Keeping 80 % must drop the draws on the cliff, and only about 20 %."""
    decode = lambda z: torch.tanh(10 * z)  # noqa: E731
    g = stream(5)
    stats: dict[str, float] = {}
    draw = lambda n: torch.randn((n, 1), generator=g)  # noqa: E731
    kept = truncated_noise(decode, draw, 5000, 0.8, g, stats=stats, burn_in=5000)
    assert kept.shape == (5000, 1)
    assert kept.abs().min().item() > 0.1  # 8 % of N(0, 1) lies within 0.1 of the cliff
    assert stats["jacobian_kept"] == pytest.approx(0.8, abs=0.03)
    assert stats["jacobian_cap"] > 0


def test_truncation_is_reproducible_and_calls_the_burn_in_hook() -> None:
    def draw_from(g: torch.Generator) -> torch.Tensor:
        return truncated_noise(torch.sin, lambda n: torch.randn((n, 3), generator=g), 50, 0.5, g,
                               burn_in=100, on_burn_in=lambda z, _: seen.append(z))  # fmt: skip

    seen: list[torch.Tensor] = []
    a, b = draw_from(stream(7)), draw_from(stream(7))
    torch.testing.assert_close(a, b)
    assert a.shape == (50, 3) and not torch.equal(a, draw_from(stream(8)))
    assert len(seen) == 3 and seen[0].shape == (100, 3)  # the burn-in noise (norms next)


def test_refusals() -> None:
    for q in (0.0, 0.005, 1.5):
        with pytest.raises(CilabError, match=r"Jacobian quantile must be in \[0.01, 1\]"):
            check_keep(q)
    check_keep(0.01)
    check_keep(1.0)
    assert check_norm("absolute") == "absolute"
    with pytest.raises(CilabError, match="Jacobian norm must be one of relative, absolute"):
        check_norm("spectral")
    with pytest.raises(CilabError, match="at least one probe"):
        jacobian_norms(torch.sin, torch.zeros((2, 2)), stream(), probes=0)


def test_dims_restrict_the_probes_to_the_leading_columns() -> None:
    """A decoder linear in the first 3 columns and wildly steep in the last 2: with dims=3 the
    estimate is the first block's Frobenius norm, untouched by the second block."""
    a = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    b = 1e3 * torch.randn(20, 2, generator=torch.Generator().manual_seed(2))
    decode = lambda z: z[:, :3] @ a.T + z[:, 3:] @ b.T  # noqa: E731
    z = torch.randn(400, 5, generator=torch.Generator().manual_seed(3))
    norms = jacobian_norms(decode, z, torch.Generator().manual_seed(4), 64, norm="absolute", dims=3)
    assert norms.mean().item() == pytest.approx(torch.linalg.norm(a).item(), rel=0.05)
    full = jacobian_norms(decode, z, torch.Generator().manual_seed(4), 64, norm="absolute")
    assert full.mean() > 100 * norms.mean()
