"""The CUDA path: the same models and loops on a GPU give what they give on the CPU.

These run only where a CUDA GPU is visible (`benchmarks/gpu_session.py` runs them on a lent GPU
machine); elsewhere pytest reports them as skipped, with the reason. Comparisons turn TF32 off so
that CUDA and CPU both compute in fp32 and can be held to tight tolerances.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from cilab.cli.main import main
from cilab.core.checkpoint import load_checkpoint
from cilab.core.device import resolve_bf16, resolve_device
from cilab.gen.gan_train import GANTrainConfig, GANTrainer
from cilab.gen.models import build_model
from cilab.gen.train import GenTrainConfig, train
from cilab.roads.models import build_torch_model
from cilab.roads.predict import torch_probabilities

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA GPU (benchmarks/gpu_session.py runs these on a lent GPU machine)",
)
CUDA = torch.device("cuda")


@pytest.fixture
def fp32_only() -> Iterator[None]:
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture
def deterministic_cudnn() -> Iterator[None]:
    """cuDNN's deterministic algorithms: without them a backward may sum in another order from
    one run to the next, and Adam turns those roundings into visible differences (the resume
    test below failed in one of two runs on a lent H200, at decoder.stem.0.weight)."""
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def test_auto_picks_cuda_and_bf16() -> None:
    device = resolve_device("auto")
    assert device.type == "cuda"
    assert resolve_bf16(None, device) == torch.cuda.is_bf16_supported()


@pytest.mark.parametrize("arch", ["exercise", "wide"])
def test_vae_loss_and_gradients_match_the_cpu(arch: str, fp32_only: None) -> None:
    torch.manual_seed(0)
    cpu = build_model("vae", latent_dim=2, arch=arch)
    gpu = build_model("vae", latent_dim=2, arch=arch).to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    x = torch.rand(64, 1, 28, 28)
    noise = torch.randn(cpu.noise_shape(64))
    out_cpu = cpu.loss(x, x, noise)
    out_gpu = gpu.loss(x.to(CUDA), x.to(CUDA), noise.to(CUDA))
    out_cpu.loss.backward()
    out_gpu.loss.backward()
    assert out_gpu.loss.item() == pytest.approx(out_cpu.loss.item(), rel=1e-5)
    for (name, p_cpu), p_gpu in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        # A bias gradient sums ~5·10^4 terms per entry: its rounding error follows the tensor's
        # largest entries (33.8 for the wide decoder's body.4.bias), not each small entry.
        scale = max(1.0, p_cpu.grad.abs().max().item())
        diff = (p_gpu.grad.cpu() - p_cpu.grad).abs().max().item()
        msg = f"{name}: max |diff| {diff:.3g}, max |grad| {scale:.3g}"
        torch.testing.assert_close(
            p_gpu.grad.cpu(), p_cpu.grad, rtol=1e-3, atol=1e-4 * scale, msg=msg
        )


def test_vae_trains_on_cuda_and_its_run_evaluates_on_the_cpu(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    run = tmp_path / "vae"
    cfg = GenTrainConfig(data_dir=str(tiny_mnist), out=str(run), epochs=2, batch_size=64,
                         val_size=128, device="cuda")  # fmt: skip
    result = train(cfg)
    assert result.status == "finished" and result.global_step == 16
    code = main(["gen", "eval", str(run), "--device", "cpu", "--iw-samples", "8", "--samples",
                 "0", "--no-figures"])  # fmt: skip  # weights saved from CUDA, evaluated on the CPU
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert (
        np.isfinite(metrics["test_neg_elbo"])
        and metrics["test_nll_iw"] <= metrics["test_neg_elbo"] + 1.0
    )


def test_vae_resume_on_cuda_matches_an_uninterrupted_run(
    tiny_mnist: Path, tmp_path: Path, deterministic_cudnn: None
) -> None:
    def cfg(out: str, **kw: object) -> GenTrainConfig:
        return GenTrainConfig(data_dir=str(tiny_mnist), out=str(tmp_path / out), epochs=2,
                              batch_size=64, val_size=128, device="cuda", **kw)  # fmt: skip

    train(cfg("full"))
    train(cfg("part", max_steps=5))
    train(cfg("part"), resume=True, typed={"epochs"})
    full = load_checkpoint(tmp_path / "full/last.pt")["model"]
    part = load_checkpoint(tmp_path / "part/last.pt")["model"]
    for k in full:  # equal up to rounding (cuBLAS, the optimizer's fused kernels)
        torch.testing.assert_close(part[k], full[k], rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.parametrize("bf16", [False, True, None])
def test_dcgan_step_on_cuda_moves_every_weight(
    tiny_mnist: Path, tmp_path: Path, bf16: bool | None
) -> None:
    cfg = GANTrainConfig(data_dir=str(tiny_mnist), out=str(tmp_path / "g"), epochs=1,
                         batch_size=32, device="cuda", bf16=bf16, g_ema=0.9,
                         monitor_samples=0)  # fmt: skip
    trainer = GANTrainer(cfg)
    assert trainer.bf16 == bool(bf16)  # auto (None) is fp32 on CUDA: faster for this model
    before = {k: v.detach().clone() for k, v in trainer.gan.named_parameters()}
    values = trainer.train_step(torch.arange(32))
    assert all(np.isfinite(v) for v in values.values())
    moved = [k for k, v in trainer.gan.named_parameters() if not torch.equal(before[k], v)]
    trained = [k for k in before if not k.startswith("generator_avg.")]
    assert set(trained) <= set(moved)
    images = trainer.gan.sample(50, torch.Generator(device=CUDA).manual_seed(0))
    assert images.shape == (50, 1, 28, 28) and images.device.type == "cuda"
    assert images.dtype == torch.float32 and images.min() >= 0 and images.max() <= 1


def test_unet_probabilities_on_cuda_match_the_cpu(fp32_only: None) -> None:
    torch.manual_seed(0)
    net = build_torch_model("unet", 8, 2).eval()
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    args = dict(scale=1.0, tta="d4", patch_output=False, zoom=1.25)
    on_cpu = torch_probabilities([net], image, device=torch.device("cpu"), **args)
    on_gpu = torch_probabilities([net.to(CUDA)], image, device=CUDA, **args)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-5)
