"""Training of the likelihood models (AE, VAE): one explicit loop, exact resume, any device.

A run directory holds `config.json` (the resolved config), `metrics.jsonl` (one record per
epoch), TensorBoard events in `tb/`, `last.pt` (everything needed to continue: model, optimizer,
position, running sums) and `best.pt` (the weights with the lowest validation loss).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from cilab.core.checkpoint import load_checkpoint, save_checkpoint
from cilab.core.config import option
from cilab.core.device import resolve_device
from cilab.core.distributed import DistEnv, all_reduce_sum, init_distributed, shutdown_distributed
from cilab.core.errors import CilabError, TrainingDiverged
from cilab.core.interrupt import graceful_interrupt
from cilab.core.runlog import RunLog, save_config
from cilab.core.seed import derived_generator, seed_everything
from cilab.gen.data import (
    STREAM_STEP,
    Binarize,
    GenData,
    epoch_batches,
    load_gen_data,
    steps_per_epoch,
    to_model_input,
)
from cilab.gen.evaluate import evaluate_loss
from cilab.gen.models import build_model
from cilab.gen.models.conv import Arch

# Settings that may differ when a run is resumed; all others must match the saved config.
RESUMABLE_OVERRIDES = frozenset({"epochs", "max_steps", "device", "log_every"})


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
    bf16: bool = option(False, "bf16 autocast (fast on recent GPUs; slower on most CPUs)")
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


@dataclass
class TrainResult:
    run_dir: Path
    status: Literal["finished", "max_steps", "interrupted"]
    epoch: int  # completed epochs
    global_step: int
    best_val: float


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
    return build_model(
        cfg.model,
        latent_dim=cfg.latent_dim,
        arch=cfg.arch,
        beta=cfg.beta,
        iw_train_samples=cfg.iw_train_samples,
    )


def resume_config(cfg: GenTrainConfig, saved: dict[str, Any], typed: set[str]) -> GenTrainConfig:
    """The saved config, updated by the flags typed now; changing the model itself is refused."""
    changed = sorted(k for k in typed - RESUMABLE_OVERRIDES if saved.get(k) != getattr(cfg, k))
    if changed:
        raise CilabError(
            f"cannot change {', '.join(changed)} when resuming; "
            f"may change: {', '.join(sorted(RESUMABLE_OVERRIDES))}"
        )
    merged = {**saved, **{k: getattr(cfg, k) for k in typed}}
    # --max-steps is where this invocation stops, not a property of the run: not inherited.
    merged["max_steps"] = cfg.max_steps if "max_steps" in typed else None
    return GenTrainConfig(**merged)


class Trainer:
    """One run: set up from a config (or a checkpoint), then `fit()`."""

    def __init__(self, cfg: GenTrainConfig, resume: bool = False, typed: set[str] | None = None):
        self.env: DistEnv = init_distributed("cuda" if cfg.device == "cuda" else "cpu")
        self.run_dir = Path(cfg.out)
        state = self._load_resume_state(resume)
        if state is not None:
            cfg = resume_config(cfg, state["config"], typed or set())
        self.cfg = cfg
        self.device = resolve_device(cfg.device, self.env.local_rank)
        if cfg.batch_size % self.env.world_size:
            raise CilabError(
                f"batch-size {cfg.batch_size} is not divisible by {self.env.world_size} processes"
            )
        seed_everything(cfg.seed)
        self.data: GenData = load_gen_data(
            cfg.dataset, cfg.data_dir, cfg.val_size, cfg.seed, self.device, cfg.binarize
        )
        self.steps_per_epoch = steps_per_epoch(len(self.data.train_x), cfg.batch_size)
        if self.steps_per_epoch == 0:
            raise CilabError(
                f"batch-size {cfg.batch_size} exceeds the {len(self.data.train_x)} training images"
            )
        self.model = build_gen_model(cfg).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_val = math.inf
        self.sums = torch.zeros(4, dtype=torch.float64)  # images, loss, recon, kl of this epoch
        if state is not None:
            self._restore(state)
        self.loss_module: nn.Module = _LossModule(self.model)
        if self.env.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_module = nn.parallel.DistributedDataParallel(self.loss_module, device_ids=ids)

    # -- checkpoints -------------------------------------------------------------------------
    def _load_resume_state(self, resume: bool) -> dict[str, Any] | None:
        last = self.run_dir / "last.pt"
        if resume:
            if not last.exists():
                raise CilabError(
                    f"{last}: nothing to resume (no checkpoint); drop --resume to start"
                )
            return load_checkpoint(last)
        if last.exists():
            raise CilabError(
                f"{self.run_dir} already holds a run; "
                "pass --resume to continue it or choose another --out"
            )
        return None

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.best_val = state["global_step"], state["best_val"]
        self.sums = state["sums"].clone()

    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "best_val": self.best_val,
            "sums": self.sums.clone(),
            "config": asdict(self.cfg),
        }

    def save_last(self) -> None:
        if self.env.is_main:
            save_checkpoint(self._state(), self.run_dir / "last.pt")

    # -- the loop ----------------------------------------------------------------------------
    def train_step(self, idx: torch.Tensor) -> float:
        """One optimizer step on the global batch `idx`; this rank computes its slice."""
        cfg, env = self.cfg, self.env
        g = derived_generator(cfg.seed, STREAM_STEP, self.global_step, device=self.device)
        mine = slice(env.rank, None, env.world_size)
        uniform = None
        if cfg.binarize == "dynamic":  # drawn for the global batch, then sliced: rank-invariant
            uniform = torch.rand((len(idx), 28, 28), generator=g, device=self.device)[mine]
        noise_shape = self.model.noise_shape(len(idx))
        noise = None
        if noise_shape is not None:
            noise = torch.randn(noise_shape, generator=g, device=self.device)[:, mine]
        x = to_model_input(self.data.train_x[idx[mine]], cfg.binarize, uniform)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss, parts = self.loss_module(x, x, noise)
        self._set_lr()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"loss became {value} at epoch {self.epoch + 1}, step {self.global_step + 1}; "
                f"the last good weights are in {self.run_dir / 'last.pt'} "
                "(lower --lr or change --seed)"
            )
        n = len(x)
        self.sums += torch.tensor(
            [n, value * n, parts["recon"].item() * n, parts.get("kl", torch.zeros(())).item() * n],
            dtype=torch.float64,
        )
        self.global_step += 1
        self.step_in_epoch += 1
        return value

    def _set_lr(self) -> None:
        """The rate is a function of the global step, so resume needs no scheduler state."""
        if self.cfg.lr_schedule == "constant":
            return
        total = self.cfg.epochs * self.steps_per_epoch
        lr = 0.5 * self.cfg.lr * (1 + math.cos(math.pi * min(self.global_step / total, 1.0)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def fit(self, on_step: Any = None) -> TrainResult:
        """Train until `epochs` or `max_steps`; Ctrl-C saves `last.pt` and returns cleanly."""
        cfg = self.cfg
        log = RunLog(self.run_dir, enabled=self.env.is_main)
        if self.env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.run_dir, asdict(cfg))
            log.truncate_after(self.epoch)
        status: Literal["finished", "max_steps", "interrupted"] = "finished"
        try:
            with graceful_interrupt() as stop:
                while self.epoch < cfg.epochs and status == "finished":
                    status = self._run_epoch(log, stop, on_step)
        finally:
            log.close()
        if status != "finished" or self.epoch >= cfg.epochs:
            self.save_last()
        shutdown_distributed(self.env)
        return TrainResult(self.run_dir, status, self.epoch, self.global_step, self.best_val)

    def _run_epoch(
        self, log: RunLog, stop: Any, on_step: Any
    ) -> Literal["finished", "max_steps", "interrupted"]:
        cfg = self.cfg
        start_time = time.perf_counter()
        start_step = self.step_in_epoch
        batches = epoch_batches(
            len(self.data.train_x), cfg.batch_size, cfg.seed, self.epoch, self.device, start_step
        )
        bar = tqdm(
            batches, total=self.steps_per_epoch, initial=start_step, unit="step",
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=None if self.env.is_main else True,
            leave=False,
        )  # fmt: skip
        self.model.train()
        for idx in bar:
            if self._reached_max_steps():
                bar.close()
                return "max_steps"
            value = self.train_step(idx)
            if self.global_step % cfg.log_every == 0:
                log.scalar("step/train_loss", value, self.global_step)
                bar.set_postfix(loss=f"{self.sums[1].item() / max(self.sums[0].item(), 1):.2f}")
            if on_step is not None:
                on_step(self)
            if stop.requested:
                return "interrupted"
        bar.close()
        self._end_epoch(log, start_time, start_step)
        return "max_steps" if self._reached_max_steps() else "finished"

    def _reached_max_steps(self) -> bool:
        return self.cfg.max_steps is not None and self.global_step >= self.cfg.max_steps

    def _end_epoch(self, log: RunLog, start_time: float, start_step: int) -> None:
        cfg = self.cfg
        sums = all_reduce_sum(self.sums.clone().to(self.device), self.env).cpu()
        n = sums[0].item()
        record: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "step": self.global_step,
            "train_loss": sums[1].item() / n,
            "train_recon": sums[2].item() / n,
        }
        if cfg.model == "vae":
            record["train_kl"] = sums[3].item() / n
        if len(self.data.val_x):
            val = evaluate_loss(self.model, self.data.val_x, cfg.seed, env=self.env)
            record.update({f"val_{k}": v for k, v in val.items()})
        elapsed = time.perf_counter() - start_time
        record["time_s"] = elapsed
        record["img_per_s"] = (self.step_in_epoch - start_step) * cfg.batch_size / elapsed
        metric = record.get("val_loss", record["train_loss"])
        self.epoch += 1
        self.step_in_epoch = 0
        self.sums.zero_()
        if self.env.is_main:
            log.epoch(record, self.global_step)
            _print_epoch(record)
            if metric < self.best_val:
                self.best_val = metric
                best = {"model": self.model.state_dict(), "epoch": self.epoch, "best_val": metric}
                save_checkpoint({**best, "config": asdict(cfg)}, self.run_dir / "best.pt")
        self.save_last()


def _print_epoch(record: dict[str, Any]) -> None:
    shown = [
        f"{k}={v:.3f}"
        for k, v in record.items()
        if k not in ("epoch", "step") and isinstance(v, float)
    ]
    print(f"epoch {record['epoch']}: " + " ".join(shown), flush=True)


def train(cfg: GenTrainConfig, resume: bool = False, typed: set[str] | None = None) -> TrainResult:
    """Train a generative model as configured; see `Trainer`."""
    return Trainer(cfg, resume=resume, typed=typed).fit()
