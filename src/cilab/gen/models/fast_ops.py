"""CPU-fast drop-in replacements for the decoder's transposed convolutions, and allocator tuning.

Profiling one training step of the exercise VAE (batch 256, 2-core CPU, PyTorch 2.13 + oneDNN)
showed where the time goes (benchmarks/README.md has the numbers and commands):

- `nn.ConvTranspose2d` on NCHW tensors: oneDNN computes the deconvolution in a blocked/NHWC
  layout and PyTorch reorders the [256, 32, 28, 28] activations back and forth (`aten::copy_`
  under `aten::_convolution`). Running the same op on a channels_last (NHWC) input removes the
  reorders and roughly halves the forward time of the big 64->32 layer.
- The last layer, a stride-1 3x3 transposed convolution to ONE channel, is a poor fit for oneDNN's
  deconvolution forward (one output channel leaves its vector units idle): ~116 MFLOP that took
  as long as the 1.8 GFLOP layer before it. Written as one GEMM to the 9 kernel taps followed by
  8 shifted adds ("col2im") it is memory-bound instead; its backward stays oneDNN's.
- In the backward of a channels_last transposed convolution, aten's `convolution_backward`
  spends as long on the bias gradient as on the weight gradient; a plain sum over (B, H, W)
  does it in ~1/25 of the time.
- The rest of the step is glibc returning large freed blocks to the kernel: every step re-faults
  ~25 MB activations page by page. `keep_freed_memory()` stops that.

Rejected after measuring (slower than oneDNN's NHWC deconvolution on this machine): sub-pixel /
phase decomposition of the stride-2 layers into four small convolutions + pixel_shuffle, one
2x2 convolution to 4x the channels + pixel_shuffle, and a plain convolution on the zero-dilated
input.

`FastConvTranspose2d` is a subclass of `nn.ConvTranspose2d`: the same parameters, parameter
layout and state_dict keys, so checkpoints load either way and the architecture is unchanged.
Its output equals the stock op's up to float32 rounding of a different summation order
(tests/gen/test_fast_ops.py). Off the CPU, under autocast, or for configurations it does not
cover, it runs the stock forward.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = [
    "FastConvTranspose2d",
    "conv_transpose3x3_same",
    "keep_freed_memory",
    "use_fast_conv_transpose",
]

# The GEMM path makes a [9 * out_channels, N] intermediate; beyond a few output channels oneDNN's
# deconvolution is efficient again and the intermediate only costs memory traffic.
MAX_GEMM_OUT_CHANNELS = 4


def _is_same3x3(m: nn.ConvTranspose2d) -> bool:
    """A 3x3, stride-1, padding-1 transposed convolution: output size equals input size."""
    return (
        m.kernel_size == (3, 3)
        and m.stride == (1, 1)
        and m.padding == (1, 1)
        and m.output_padding == (0, 0)
        and m.dilation == (1, 1)
        and m.groups == 1
    )


def _tap_ranges(k: int, n: int) -> tuple[slice, slice]:
    """For kernel tap k (0..2) of a 'same' 3x3 transposed conv: (output slice, input slice).

    Input position i with tap k lands on output o = i + k - 1; both must lie in [0, n).
    """
    lo, hi = max(0, 1 - k), min(n, n + 1 - k)
    return slice(lo + k - 1, hi + k - 1), slice(lo, hi)


def _conv_transpose_backward(
    ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """aten's convolution_backward for x and weight; the bias gradient as a plain sum.

    Asking convolution_backward for the bias gradient of a channels_last transposed convolution
    costs as much as the weight gradient (~10 ms for the 64->32 layer, batch 256, one core);
    `grad.sum((0, 2, 3))` takes ~0.4 ms.
    """
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    gx = gw = None
    if need_x or need_w:
        gx, gw, _ = torch.ops.aten.convolution_backward(
            grad, x, weight, None, ctx.stride, ctx.padding, ctx.dilation,
            True, ctx.output_padding, ctx.groups, [need_x, need_w, False],
        )  # fmt: skip
    gb = grad.sum((0, 2, 3)) if need_b and ctx.has_bias else None
    return gx, gw, gb


class _ConvTransposeNHWC(torch.autograd.Function):
    """F.conv_transpose2d on a channels_last input; backward via `_conv_transpose_backward`."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, groups, dilation):
        x = x.contiguous(memory_format=torch.channels_last)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.stride, ctx.padding, ctx.dilation = list(stride), list(padding), list(dilation)
        ctx.output_padding, ctx.groups = list(output_padding), groups
        return F.conv_transpose2d(
            x, weight, bias, stride, padding, output_padding, groups, dilation
        )

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        gx, gw, gb = _conv_transpose_backward(
            ctx, grad.contiguous(memory_format=torch.channels_last)
        )
        return gx, gw, gb, None, None, None, None, None


class _ConvTranspose3x3Same(torch.autograd.Function):
    """Forward: one GEMM to the 9 taps, then shifted adds; backward: `_conv_transpose_backward`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        b, c, h, w = x.shape
        cout = weight.shape[1]
        x = x.contiguous(memory_format=torch.channels_last)
        x2 = x.permute(0, 2, 3, 1).reshape(-1, c)  # [N, C], a view of the NHWC storage
        # cols[o, kh, kw, n] = sum_c weight[c, o, kh, kw] * x2[n, c]
        cols = torch.mm(weight.reshape(c, cout * 9).t(), x2.t()).view(cout, 3, 3, b, h, w)
        out = cols[:, 1, 1].clone()  # the centre tap covers every output pixel
        for kh in range(3):
            oh, ih = _tap_ranges(kh, h)
            for kw in range(3):
                if kh == 1 and kw == 1:
                    continue
                ow, iw = _tap_ranges(kw, w)
                out[:, :, oh, ow] += cols[:, kh, kw, :, ih, iw]
        if bias is not None:
            out += bias.view(cout, 1, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.stride, ctx.padding, ctx.dilation = [1, 1], [1, 1], [1, 1]
        ctx.output_padding, ctx.groups = [0, 0], 1
        if cout == 1:
            return out.view(b, 1, h, w)  # standard NCHW strides
        return out.permute(1, 0, 2, 3).contiguous()  # [B, cout, H, W]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        return _conv_transpose_backward(ctx, grad.contiguous())


def conv_transpose3x3_same(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """`F.conv_transpose2d(x, weight, bias, stride=1, padding=1)` for a 3x3 `weight`.

    `weight` has ConvTranspose2d's layout [in_channels, out_channels, 3, 3]. Fast on CPU when
    out_channels is small (the decoder's last layer has one).
    """
    if weight.shape[2:] != (3, 3) or x.dim() != 4 or x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"need x [B, C, H, W] and weight [C, O, 3, 3]; got {tuple(x.shape)}, "
            f"{tuple(weight.shape)}"
        )
    return _ConvTranspose3x3Same.apply(x, weight, bias)


class FastConvTranspose2d(nn.ConvTranspose2d):
    """`nn.ConvTranspose2d` with a faster CPU forward/backward and identical parameters.

    - 3x3, stride 1, padding 1, at most `MAX_GEMM_OUT_CHANNELS` outputs: `conv_transpose3x3_same`.
    - Any other configuration: the stock op on a channels_last (NHWC) input, so oneDNN runs
      without NCHW reorders (the output is channels_last too: same values and shape), with the
      bias gradient taken as a sum outside oneDNN's backward.
    - Not on the CPU, under autocast, with `output_size` or a non-zero padding mode: the stock
      forward, unchanged.
    """

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (
            input.device.type != "cpu"
            or input.dim() != 4
            or output_size is not None
            or self.padding_mode != "zeros"
            or torch.is_autocast_enabled("cpu")
        ):
            return super().forward(input, output_size)
        if _is_same3x3(self) and self.out_channels <= MAX_GEMM_OUT_CHANNELS:
            return conv_transpose3x3_same(input, self.weight, self.bias)
        return _ConvTransposeNHWC.apply(
            input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation,
        )  # fmt: skip


def use_fast_conv_transpose(module: nn.Module) -> int:
    """Switch every `nn.ConvTranspose2d` in `module` to `FastConvTranspose2d`, in place.

    Parameters, buffers and state_dict keys stay as they are (only the class changes), so this
    may be applied before or after loading a checkpoint. Returns how many layers were switched.
    """
    n = 0
    for m in module.modules():
        if type(m) is nn.ConvTranspose2d:
            m.__class__ = FastConvTranspose2d
            n += 1
    return n


# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the kernel.

    By default blocks above the (dynamic, at most 32 MB) mmap threshold are mmap'ed and unmapped
    on free, and the heap top is trimmed, so every training step page-faults its large
    activations in afresh. With both thresholds raised, the step's memory is reused and the
    process keeps its peak footprint. Linux/glibc only; returns False (and changes nothing)
    elsewhere. Affects the whole process: call it once, in a training entry point.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Older glibc caps the mmap threshold at 32 MB; take the largest value it accepts.
    mmap_ok = any(mallopt(_M_MMAP_THRESHOLD, v) == 1 for v in (1 << 30, 32 << 20))
    trim_ok = mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    return mmap_ok and trim_ok
