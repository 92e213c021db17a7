"""The per-code judgement of an InfoGAN-style DCGAN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cilab.gen.codes import (
    class_kept,
    code_agreement,
    code_grid_title,
    continuous_columns,
    sweep_latents,
    with_code,
)


def test_code_agreement_of_hand_made_labels() -> None:
    # Code 0 draws 7s three times in four, code 1 always 2s, code 2 mostly 7s too.
    labels = np.array([[7, 7, 7, 1], [2, 2, 2, 2], [3, 7, 7, 7]])
    purity, classes, majority = code_agreement(labels)
    assert purity == pytest.approx((3 + 4 + 3) / 12)
    assert classes == 2 and majority.tolist() == [7, 2, 7]
    perfect = np.repeat(np.arange(10)[:, None], 5, axis=1)
    assert code_agreement(perfect)[:2] == (1.0, 10)


def test_code_grid_title_names_codes_or_labels() -> None:
    majority = np.array([7, 2, 7])
    assert code_grid_title(majority) == "row k: code k; classes 7 2 7"
    # A conditional run's code is the label: the title says how often the judge agreed.
    assert code_grid_title(majority, 0.9926) == "row k: label k; judged as asked 99.3%"


def test_with_code_sets_only_the_code_columns() -> None:
    z = torch.randn(4, 7)
    out = with_code(z, 3, torch.tensor([2, 0, 1, 2]))
    assert torch.equal(out[:, :4], z[:, :4])
    assert out[:, 4:].tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert not torch.equal(out, z)


def test_continuous_columns_sit_between_the_noise_and_the_one_hot() -> None:
    assert continuous_columns(15, 3, 2) == slice(10, 12)  # 10 noise | 2 continuous | 3 one-hot
    assert continuous_columns(12, 0, 2) == slice(10, 12)  # no categorical code: the last two


def test_sweep_latents_moves_one_continuous_code_and_zeroes_the_others() -> None:
    z = torch.randn(3, 9)  # 4 noise | 2 continuous | 3 one-hot
    values = torch.tensor([-2.0, 0.0, 2.0])
    out = sweep_latents(z, 3, 2, 1, values)
    assert out.shape == (9, 9)
    for n in range(3):
        rows = out[3 * n : 3 * n + 3]  # latent n, swept
        assert torch.equal(rows[:, :4], z[n, :4].expand(3, 4))  # its noise, unchanged
        assert torch.equal(rows[:, 6:], z[n, 6:].expand(3, 3))  # its one-hot, unchanged
        assert rows[:, 4].tolist() == [0.0, 0.0, 0.0]  # the other code at its mean
        assert rows[:, 5].tolist() == [-2.0, 0.0, 2.0]  # the swept code
    assert not torch.equal(out[:3, 5], z[0, 5].expand(3))  # a copy, z untouched
    assert torch.equal(sweep_latents(z, 3, 2, 1, values), out)


def test_class_kept_compares_each_row_with_its_centre() -> None:
    labels = np.array([[4, 4, 4, 9, 9], [1, 1, 1, 1, 1], [7, 2, 2, 2, 7]])
    # centre column 2: row 0 keeps 3 of 5, row 1 all 5, row 2 3 of 5
    assert class_kept(labels, 2) == pytest.approx(11 / 15)
    assert class_kept(np.repeat(np.arange(4)[:, None], 6, axis=1), 3) == 1.0
