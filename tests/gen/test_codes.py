"""The per-code judgement of an InfoGAN-style DCGAN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cilab.gen.codes import code_agreement, with_code


def test_code_agreement_of_hand_made_labels() -> None:
    # Code 0 draws 7s three times in four, code 1 always 2s, code 2 mostly 7s too.
    labels = np.array([[7, 7, 7, 1], [2, 2, 2, 2], [3, 7, 7, 7]])
    purity, classes, majority = code_agreement(labels)
    assert purity == pytest.approx((3 + 4 + 3) / 12)
    assert classes == 2 and majority.tolist() == [7, 2, 7]
    perfect = np.repeat(np.arange(10)[:, None], 5, axis=1)
    assert code_agreement(perfect)[:2] == (1.0, 10)


def test_with_code_sets_only_the_code_columns() -> None:
    z = torch.randn(4, 7)
    out = with_code(z, 3, torch.tensor([2, 0, 1, 2]))
    assert torch.equal(out[:, :4], z[:, :4])
    assert out[:, 4:].tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert not torch.equal(out, z)
