"""Jacobian-based truncation (Tanielian et al. 2020, "Learning disconnected manifolds: a no
GAN's land"): drop the noise vectors where the generator changes fastest.

A generator G maps one connected noise distribution, N(0, I), continuously onto images. Digits
of ten classes lie on separate pieces of image space, so G must carry some of the noise across
the gaps between them, and there it draws in-between shapes that are no digit. A good generator
crosses a gap fast: there the image changes most per unit of noise, ‖J_G(z)‖_F is large.
Tanielian et al. show that a share of the samples must fall into the gaps and keep only the
noise whose Jacobian norm is below a quantile of a burn-in draw's: truncation by the generator's
local stretch, where the truncation trick (`gen eval --temperature`) truncates by ‖z‖.

‖J‖_F² = E_v ‖J v‖² for v ~ N(0, I) (Hutchinson), and J v ≈ (G(z + εv) − G(z)) / ε: `probes`
extra forward passes per sample estimate it, without the [pixels × noise] Jacobian (exact, up to
the probes' sampling error, for a generator that is linear over a step of ε).

On digits the plain norm mostly measures ink: a bold 0 changes more pixels per unit of noise
than a thin 1, so truncating by it drops bold digits and keeps 1s (measured: the burn-in's
smallest norms were nearly all 1s). `relative` divides by ‖G(z)‖ (ink on a black background),
which asks how fast the image changes for its size, and is cilab's default: what it drops first
are broken strokes of every class (RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cilab.core.errors import CilabError
from cilab.gen.filtering import BURN_IN, draw_kept

Decode = Callable[[torch.Tensor], torch.Tensor]  # noise [N, d] -> samples [N, ...]
Draw = Callable[[int], torch.Tensor]  # n -> noise [n, d], from the caller's stream
BurnInHook = Callable[[torch.Tensor, torch.Tensor], None]  # (burn-in noise, its norms)

PROBES = 4  # random directions per sample
EPS = 1e-2  # finite-difference step in noise units (a noise vector's norm is ~ sqrt(d))
BATCH = 1000
MIN_KEEP = 0.01  # below this the filter, not the generator, makes the samples
NORMS = ("relative", "absolute")  # ‖J‖ / ‖G(z)‖ (cilab's default) or ‖J‖ (the paper's)


@torch.no_grad()
def jacobian_norms(
    decode: Decode, z: torch.Tensor, stream: torch.Generator, probes: int = PROBES,
    eps: float = EPS, norm: str = "relative", dims: int | None = None,
) -> torch.Tensor:  # fmt: skip
    """Finite-difference Hutchinson estimate of ‖J_decode(z_i)‖_F for every row of `z` -> [N],
    divided by ‖decode(z_i)‖ for the `norm` "relative" (module docstring), not for "absolute".
    With `dims` only the first `dims` columns move (the Jacobian's block of the continuous
    noise: a one-hot code after them has no neighbourhood to differentiate in).

    Per batch of `BATCH` rows: one forward pass at z and one per probe at z + eps·v, so the cost
    is (1 + probes) sampling passes; the probe directions come from `stream`.
    """
    if probes < 1:
        raise CilabError(f"Jacobian norms need at least one probe direction, not {probes}")
    relative = check_norm(norm) == "relative"
    norms = []
    for s in range(0, len(z), BATCH):
        zb = z[s : s + BATCH]
        base = decode(zb).flatten(1).float()
        sq = torch.zeros(len(zb), device=zb.device)
        for _ in range(probes):
            v = torch.randn(zb.shape, generator=stream, device=zb.device, dtype=zb.dtype)
            if dims is not None:
                v[:, dims:] = 0
            sq += (decode(zb + eps * v).flatten(1).float() - base).square().sum(1)
        j = sq.div(probes).sqrt().div(eps)
        norms.append(j / base.norm(dim=1).clamp_min(1e-12) if relative else j)
    return torch.cat(norms)


def check_keep(quantile: float) -> None:
    """Refuse a kept share outside [MIN_KEEP, 1]."""
    if not MIN_KEEP <= quantile <= 1.0:
        raise CilabError(f"Jacobian quantile must be in [{MIN_KEEP}, 1], not {quantile}")


def check_norm(name: str) -> str:
    """Refuse a norm other than "relative" and "absolute" (module docstring)."""
    if name not in NORMS:
        raise CilabError(f"Jacobian norm must be one of {', '.join(NORMS)}, not {name!r}")
    return name


def truncated_noise(
    decode: Decode,
    draw: Draw,
    n: int,
    quantile: float,
    stream: torch.Generator,
    stats: dict[str, float] | None = None,
    burn_in: int | None = None,
    on_burn_in: BurnInHook | None = None,
    norm: str = "relative",
    dims: int | None = None,
) -> torch.Tensor:
    """`n` noise vectors from `draw` whose Jacobian norm under `decode` is at most the cap, the
    `quantile` of a separate burn-in draw's norms (`burn_in`, default `BURN_IN`), so about that
    share of draws is kept; relative norms by default (module docstring).

    `stats`, when given, receives the cap (`jacobian_cap`) and the kept share of the candidates
    (`jacobian_kept`); `on_burn_in` the burn-in's noise and norms (to show what is dropped);
    `norm` and `dims` go to `jacobian_norms`.
    """
    check_keep(quantile)
    burn = draw(burn_in or BURN_IN)
    burn_norms = jacobian_norms(decode, burn, stream, norm=norm, dims=dims)
    if on_burn_in is not None:
        on_burn_in(burn, burn_norms)
    cap = torch.quantile(burn_norms, quantile)
    below = lambda z: jacobian_norms(decode, z, stream, norm=norm, dims=dims) <= cap  # noqa: E731
    kept, share = draw_kept(n, draw, below, quantile)
    if stats is not None:
        stats.update(jacobian_cap=cap.item(), jacobian_kept=share)
    return kept
