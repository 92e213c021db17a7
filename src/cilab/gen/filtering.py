"""What rejection sampling and Jacobian truncation share: a filter's cap comes from a burn-in
draw of `BURN_IN` candidates (never reused, so the cap does not depend on the candidates it
judges), then candidates are drawn in batches sized by the expected kept share until `n` pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

BURN_IN = 10_000  # draws that fix a filter's cap
MARGIN = 1.2  # candidates per expected keep, so one batch almost always suffices


def draw_kept(
    n: int,
    draw: Callable[[int], torch.Tensor],
    keep: Callable[[torch.Tensor], torch.Tensor],
    share: float,
) -> tuple[torch.Tensor, float]:
    """The first `n` candidates from `draw` (m -> [m, ...]) that `keep` (candidates -> bool
    mask [m]) passes, and the passed share of all drawn. Batches hold `MARGIN` x the candidates
    an expected pass share `share` needs; a precise-BatchNorm generator redraws its statistics
    per batch, so fewer, larger batches are also cheaper."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"expected kept share must be in (0, 1], not {share}")
    kept: list[torch.Tensor] = []
    accepted = drawn = 0
    while accepted < n:
        batch = draw(math.ceil(MARGIN * (n - accepted) / share))
        mask = keep(batch)
        kept.append(batch[mask])
        accepted, drawn = accepted + int(mask.sum()), drawn + len(batch)
    return torch.cat(kept)[:n], accepted / drawn
