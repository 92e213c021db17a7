"""FastConvTranspose2d and conv_transpose3x3_same equal the stock ops: outputs and gradients."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cilab.gen.models.fast_ops import (
    FastConvTranspose2d,
    conv_transpose3x3_same,
    keep_freed_memory,
    use_fast_conv_transpose,
)
from cilab.gen.models.vae import VAE

# (in, out, stride, output_padding, input size): the exercise decoder's three layers, a few
# more outputs for the GEMM path, and the 'wide' decoder's first layer.
CONFIGS = [
    (32, 64, 2, 1, 7),
    (64, 32, 2, 1, 14),
    (32, 1, 1, 0, 28),
    (8, 3, 1, 0, 9),
    (16, 5, 1, 0, 6),  # more outputs than the GEMM path takes: channels_last oneDNN
    (128, 128, 2, 1, 7),
]


def _pair(cin: int, cout: int, stride: int, out_pad: int, bias: bool, dtype: torch.dtype):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(cin, cout, 3, stride, 1, out_pad, bias=bias).to(dtype)
    fast = FastConvTranspose2d(cin, cout, 3, stride, 1, out_pad, bias=bias).to(dtype)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def assert_close_scaled(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> None:
    """|a - b| <= tol * max(1, max |b|): float32 sums over many terms differ by their order."""
    scale = b.abs().max().clamp(min=1.0)
    torch.testing.assert_close(a / scale, b / scale, rtol=tol, atol=tol)


def _run(layer: nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    y = layer(x)
    y.backward(g)
    grads = [x.grad] + [p.grad for p in layer.parameters()]
    return y, grads


@pytest.mark.parametrize(("cin", "cout", "stride", "out_pad", "size"), CONFIGS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_conv_transpose_matches_stock_float32(cin, cout, stride, out_pad, size, bias,
                                                   channels_last):  # fmt: skip
    ref, fast = _pair(cin, cout, stride, out_pad, bias, torch.float32)
    torch.manual_seed(1)
    x = torch.randn(6, cin, size, size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(6, cout, size * stride, size * stride)
    y_ref, g_ref = _run(ref, x, g)
    y_fast, g_fast = _run(fast, x, g)
    assert y_fast.shape == y_ref.shape
    assert_close_scaled(y_fast, y_ref)
    for a, b in zip(g_fast, g_ref, strict=True):
        assert_close_scaled(a, b)


@pytest.mark.parametrize(("cin", "cout", "stride", "out_pad", "size"), CONFIGS[2:4])
def test_fast_conv_transpose_matches_stock_float64(cin, cout, stride, out_pad, size):
    ref, fast = _pair(cin, cout, stride, out_pad, True, torch.float64)
    x = torch.randn(3, cin, size, size, dtype=torch.float64)
    g = torch.randn(3, cout, size * stride, size * stride, dtype=torch.float64)
    y_ref, g_ref = _run(ref, x, g)
    y_fast, g_fast = _run(fast, x, g)
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_fast, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_gemm_path_passes_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv_transpose3x3_same, (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: conv_transpose3x3_same(x, w), (x, w))
    ref = F.conv_transpose2d(x, w, b, stride=1, padding=1)
    torch.testing.assert_close(conv_transpose3x3_same(x, w, b), ref)


def test_gemm_path_rejects_other_kernels():
    with pytest.raises(ValueError, match="weight"):
        conv_transpose3x3_same(torch.randn(1, 2, 4, 4), torch.randn(2, 1, 5, 5))


def test_stock_forward_under_autocast_and_output_size():
    ref, fast = _pair(8, 4, 2, 1, True, torch.float32)
    x = torch.randn(2, 8, 5, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(fast(x), ref(x))
    torch.testing.assert_close(fast(x, output_size=[9, 9]), ref(x, output_size=[9, 9]))


def test_vae_with_fast_layers_is_the_same_model():
    torch.manual_seed(0)
    ref = VAE(latent_dim=2)  # the models use the fast layers; turn this one back to stock
    for m in ref.modules():
        if type(m) is FastConvTranspose2d:
            m.__class__ = nn.ConvTranspose2d
    fast = copy.deepcopy(ref)
    assert use_fast_conv_transpose(fast) == 3
    assert use_fast_conv_transpose(fast) == 0  # idempotent
    assert list(fast.state_dict()) == list(ref.state_dict())
    assert all(isinstance(m, nn.ConvTranspose2d) for m in fast.decoder.body[::2])
    fresh = VAE(latent_dim=2)
    assert use_fast_conv_transpose(fresh) == 0  # already fast by default
    fresh.load_state_dict(ref.state_dict())  # a stock checkpoint loads unchanged
    x = torch.rand(16, 1, 28, 28)
    noise = torch.randn(1, 16, 2)
    for model in (ref, fast):
        model.loss(x, x, noise).loss.backward()
    torch.testing.assert_close(fast.loss(x, x, noise).loss, ref.loss(x, x, noise).loss)
    torch.testing.assert_close(fast(x), fresh(x))
    for a, b in zip(fast.parameters(), ref.parameters(), strict=True):
        assert_close_scaled(a.grad, b.grad)


def test_keep_freed_memory_reports_support():
    result = keep_freed_memory()
    assert isinstance(result, bool)
    if sys.platform.startswith("linux"):
        assert result  # glibc accepts both options
    t = torch.empty(8 << 20, dtype=torch.uint8)  # allocation still works afterwards
    del t
