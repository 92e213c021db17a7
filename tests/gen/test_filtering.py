"""The candidate loop rejection sampling and Jacobian truncation share."""

from __future__ import annotations

import pytest
import torch

from cilab.gen.filtering import MARGIN, draw_kept


def test_draw_kept_returns_the_first_n_passes_in_order_and_the_pass_share() -> None:
    """Candidates 0, 1, 2, ... in batches; even ones pass. With the true share 1/2 one batch of
    MARGIN * n / share candidates suffices, and every pass is returned in the order drawn."""
    start = [0]
    sizes: list[int] = []

    def draw(m: int) -> torch.Tensor:
        sizes.append(m)
        out = torch.arange(start[0], start[0] + m)
        start[0] += m
        return out

    kept, share = draw_kept(100, draw, lambda x: x % 2 == 0, 0.5)
    assert torch.equal(kept, torch.arange(0, 200, 2))
    assert sizes == [round(MARGIN * 100 / 0.5)] and share == 0.5


def test_draw_kept_draws_again_when_the_share_was_overestimated() -> None:
    """A share guessed at 1 while one in four passes: batches until 40 have passed."""
    sizes: list[int] = []

    def draw(m: int) -> torch.Tensor:
        sizes.append(m)
        return torch.arange(m)

    kept, share = draw_kept(40, draw, lambda x: x % 4 == 0, 1.0)
    assert len(kept) == 40 and (kept % 4 == 0).all()
    assert len(sizes) > 1 and share == pytest.approx(0.25, abs=0.02)
    with pytest.raises(ValueError, match="share"):
        draw_kept(1, draw, lambda x: x > 0, 0.0)
