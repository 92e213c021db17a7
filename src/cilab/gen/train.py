"""Training of the likelihood models (AE, VAE) on MNIST: the exercise's setting and beyond.

The loop itself (resume, Ctrl-C, logs, checkpoints, torchrun) is `cilab.core.loop.EpochTrainer`;
this module only says what a VAE step is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from cilab.core.config import option
from cilab.core.loop import EpochTrainer, TrainResult, cosine_lr
from cilab.gen.data import Binarize, GenData, load_gen_data, to_model_input
from cilab.gen.evaluate import evaluate_loss
from cilab.gen.models import build_model
from cilab.gen.models.conv import Arch
from cilab.gen.models.fast_ops import keep_freed_memory


@dataclass
class GenTrainConfig:
    """Everything that determines a generative-model training run."""

    model: Literal["ae", "vae"] = option("vae", "model to train")
    dataset: Literal["mnist", "fashion-mnist"] = option("mnist", "image dataset")
    data_dir: str | None = option(
        None, "folder with the IDX files (else $CILAB_DATA, else download)"
    )
    out: str = option("runs/gen", "run directory (created)")
    epochs: int = option(10, "passes over the training set")
    max_steps: int | None = option(None, "stop after this many optimizer steps in total")
    batch_size: int = option(256, "global batch size (split over processes under torchrun)")
    lr: float = option(1e-3, "Adam learning rate")
    lr_schedule: Literal["constant", "cosine"] = option(
        "constant", "constant (the exercise), or cosine decay to 0 over all epochs"
    )
    latent_dim: int = option(2, "size of the latent code")
    arch: Arch = option("exercise", "network: the exercise's convnet or a wider one")
    binarize: Binarize = option("none", "none: grey levels; dynamic: resampled per batch; static")
    beta: float = option(1.0, "weight of the KL term (VAE; 1 is the ELBO)")
    iw_train_samples: int = option(1, "K > 1 trains on the K-sample importance-weighted bound")
    val_size: int = option(5000, "training images held out for validation and best.pt")
    seed: int = option(0, "random seed")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto picks CUDA when present")
    bf16: bool = option(
        False,
        "bf16 autocast (fast on recent GPUs and CPUs with AMX or AVX512-BF16; slower where bf16 "
        "is emulated)",
    )
    log_every: int = option(20, "steps between TensorBoard step scalars")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "latent_dim", "iw_train_samples", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0:
            raise ValueError("lr must be > 0")
        if self.val_size < 0:
            raise ValueError("val-size must be >= 0")
        if self.model == "ae" and self.iw_train_samples > 1:
            raise ValueError("iw-train-samples needs --model vae")


class _LossModule(nn.Module):
    """Makes `model.loss` the forward pass, so DistributedDataParallel syncs its gradients."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, target: torch.Tensor, noise: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.model.loss(x, target, noise)
        return out.loss, out.parts


def build_gen_model(cfg: GenTrainConfig) -> nn.Module:
    """The AE or VAE a training config asks for (the DCGAN has its own trainer)."""
    return build_model(
        cfg.model,
        latent_dim=cfg.latent_dim,
        arch=cfg.arch,
        beta=cfg.beta,
        iw_train_samples=cfg.iw_train_samples,
    )


class GenTrainer(EpochTrainer):
    """AE/VAE training: Adam on the negative ELBO (or IW bound), grey or binarized MNIST."""

    def setup(self) -> int:
        cfg = self.cfg
        self.sum_keys = ("loss", "recon", "kl") if cfg.model == "vae" else ("loss", "recon")
        self.data: GenData = load_gen_data(
            cfg.dataset, cfg.data_dir, cfg.val_size, cfg.seed, self.device, cfg.binarize
        )
        self.model = build_gen_model(cfg).to(self.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # reuse activation memory across steps (benchmarks/README.md)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.loss_module = self.ddp(_LossModule(self.model))
        return len(self.data.train_x)

    def modules(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer}

    def weights(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_step(self, idx: torch.Tensor) -> dict[str, float]:
        """One Adam step on the global batch `idx`; this rank computes its slice."""
        cfg, g = self.cfg, self.step_generator()
        uniform = None
        if cfg.binarize == "dynamic":  # drawn for the global batch, then sliced: rank-invariant
            uniform = torch.rand((len(idx), 28, 28), generator=g, device=self.device)[self.mine]
        noise_shape = self.model.noise_shape(len(idx))
        noise = None
        if noise_shape is not None:
            noise = torch.randn(noise_shape, generator=g, device=self.device)[:, self.mine]
        x = to_model_input(self.data.train_x[idx[self.mine]], cfg.binarize, uniform)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss, parts = self.loss_module(x, x, noise)
        self.optimizer_step(self.optimizer, loss)
        return {"loss": loss.item(), **{k: parts[k].item() for k in self.sum_keys[1:]}}

    def lr_at(self, step: int) -> float | None:
        if self.cfg.lr_schedule == "constant":
            return None
        return cosine_lr(self.cfg.lr, step, self.total_steps)

    def validate(self) -> dict[str, float]:
        if not len(self.data.val_x):
            return {}
        return evaluate_loss(self.model, self.data.val_x, self.cfg.seed, env=self.env)


def train(cfg: GenTrainConfig, resume: bool = False, typed: set[str] | None = None) -> TrainResult:
    """Train a generative model as configured; see `GenTrainer`."""
    return GenTrainer(cfg, resume=resume, typed=typed).fit()
