"""Training of the tutorial's DCGAN on MNIST (`cilab gen train --model dcgan`).

The loop itself (resume, Ctrl-C, logs, checkpoints, torchrun) is `cilab.core.loop.EpochTrainer`;
this module says what one GAN step is and what a run writes besides:

- `samples/epoch_NNN.png`: the same 16 seeded noise vectors through the generator after every
  epoch, a 4x4 grid; `progress.gif` animates them (the tutorial's output), rewritten each epoch.
- `epoch_015.pt`, `epoch_030.pt`, ...: the weights every `--checkpoint-every` epochs.
- With the judging classifier in the cache (`cilab gen classifier`), each epoch also scores
  `--monitor-samples` generated digits: `val_class_entropy`, `val_classifier_is` and `val_fd`
  (Fréchet distance of classifier features against 10,000 training images); `best.pt` is the
  epoch with the lowest `val_fd`. Without it there is no `best.pt`: a GAN's losses say little
  about its samples.
- With `--g-ema DECAY` every sample above (and `best.pt`'s, and `gen eval`'s) comes from a moving
  average of the generator's weights (`DCGAN.update_average`), updated after each step.
- With `--conditional` the one-hot code is the digit label and the discriminator judges (image,
  label) pairs by projection (`cilab.gen.models.dcgan`); fakes' labels follow the training
  set's label frequencies, which the run stores with the generator.
- A warning (stderr, with the epoch) when the discriminator's loss collapses towards 0 or the
  generated digits collapse onto few classes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cilab.core.checkpoint import load_checkpoint
from cilab.core.config import option
from cilab.core.device import resolve_bf16
from cilab.core.errors import CilabError
from cilab.core.loop import EpochTrainer, TrainResult, cosine_lr, set_lr
from cilab.core.progress import note
from cilab.core.seed import STREAM_EVAL, derived_generator
from cilab.gen.codes import continuous_columns, with_code
from cilab.gen.data import GenData, load_gen_data
from cilab.gen.models.dcgan import DCGAN, DCGANConfig, to_gan_input

# Sub-streams of STREAM_EVAL; fixed forever so a run's sample grids stay comparable.
FIXED_NOISE_STREAM, MONITOR_NOISE_STREAM, MONITOR_REAL_STREAM, BN_STREAM = 400, 401, 402, 403
MONITOR_REAL_IMAGES = 10_000
CLASSES = 10  # of MNIST and Fashion-MNIST: a conditional run's one-hot width


@dataclass
class GANTrainConfig:
    """Everything that determines a DCGAN training run; defaults are the TF tutorial's."""

    model: Literal["dcgan"] = option("dcgan", "model to train")
    dataset: Literal["mnist", "fashion-mnist"] = option("mnist", "image dataset")
    data_dir: str | None = option(
        None, "folder with the IDX files (else $CILAB_DATA, else download)"
    )
    out: str = option("runs/dcgan", "run directory (created)")
    epochs: int = option(50, "passes over the 60,000 training images")
    max_steps: int | None = option(None, "stop after this many optimizer steps in total")
    batch_size: int = option(256, "global batch size (split over processes under torchrun)")
    noise_dim: int = option(100, "size of the generator's input noise")
    dropout: float = option(0.3, "discriminator dropout rate")
    leaky_slope: float = option(0.3, "LeakyReLU negative slope (Keras' default)")
    spectral_norm: bool = option(
        False,
        "spectral normalization of every discriminator layer (Miyato et al. 2018): D stays "
        "1-Lipschitz per layer, so it can train without dropout or faster without overpowering "
        "the generator (off: the tutorial)",
    )
    d_width: int = option(
        1,
        "multiplier of the discriminator's channels: 64w and 128w instead of 64 and 128, "
        "w^2 times the FLOPs of its second conv (1: the tutorial)",
    )
    info_codes: int = option(
        0,
        "append a one-hot categorical code of this many values to the noise and train the "
        "discriminator to read it back from the generated images, both networks minimizing "
        "its cross-entropy (InfoGAN, Chen et al. 2016): with 10 the codes tend to become digit "
        "classes (gen eval's code_purity says how far), so the generator need not stretch one "
        "Gaussian across the gaps between them (0: off, the tutorial)",
    )
    info_weight: float = option(1.0, "weight of the code's cross-entropy (InfoGAN's lambda)")
    info_continuous: int = option(
        0,
        "append this many continuous codes, uniform on [-1, 1], and train the discriminator to "
        "read them back (half their squared error, a unit Gaussian's log-likelihood; InfoGAN's "
        "continuous codes): each must visibly change the digit, so the generator has to draw "
        "that variety within every class (0: off, the tutorial)",
    )
    info_continuous_weight: float = option(
        1.0, "weight of the continuous codes' squared error (InfoGAN's lambda for them)"
    )
    minibatch_std: int = option(
        0,
        "give the discriminator a minibatch-std channel over groups of this many images "
        "(ProGAN, Karras et al. 2018): the spread of its features within each group, so a "
        "generator that varies less than the data is visible to it (0: off, the tutorial)",
    )
    conditional: bool = option(
        False,
        "class-conditional: the generator gets the digit label as a one-hot code and the "
        "discriminator judges (image, label) pairs by projection (Miyato & Koyama 2018), so "
        "generated 4s are compared with real 4s; labels are drawn at the training set's "
        "frequencies (off: the tutorial; not with --info-codes)",
    )
    lr_g: float = option(1e-4, "generator Adam learning rate")
    lr_d: float = option(1e-4, "discriminator Adam learning rate")
    adam_beta1: float = option(
        0.9, "Adam beta1 of both optimizers (Keras' default; DCGAN paper 0.5)"
    )
    lr_schedule: Literal["constant", "cosine"] = option(
        "constant",
        "constant (the tutorial), or both learning rates decayed to 0 along a cosine over all "
        "epochs, which shrinks the generator's orbit around the equilibrium as the run ends",
    )
    gan_loss: Literal["non-saturating", "minimax"] = option(
        "non-saturating",
        "generator loss: -log D(G(z)) (the tutorial), or the original log(1 - D(G(z)))",
    )
    precise_bn: bool = option(
        True,
        "sample with BatchNorm statistics recomputed for the current weights (else the "
        "tutorial's moving averages, which lag badly in early epochs)",
    )
    g_ema: float = option(
        0.0,
        "sample from an exponential moving average of the generator's weights with this decay "
        "(e.g. 0.999; 0: off, the tutorial); monitor, grids, checkpoints and eval then use it",
    )
    g_ema_slow: float = option(
        0.0,
        "also keep a second, slower average with this decay (e.g. 0.9999; 0: none), above "
        "--g-ema's: neither feeds back, so one run compares both on the very same training; "
        "the monitor logs its numbers as val_*_slow, `gen eval --weights slow` samples from it",
    )
    r1_gamma: float = option(
        0.0,
        "weight gamma of the R1 penalty gamma/2 * E ||grad_x D(x)||^2 on real images "
        "(Mescheder et al. 2018), which keeps the discriminator smooth around the data "
        "(0: off, the tutorial)",
    )
    checkpoint_every: int = option(15, "write epoch_NNN.pt every this many epochs (0: never)")
    monitor_samples: int = option(
        2000, "generated digits judged each epoch by the cached classifier (0: off)"
    )
    collapse_d_loss: float = option(
        0.1, "warn when an epoch's mean discriminator loss falls below this"
    )
    collapse_entropy: float = option(
        0.8, "warn when the generated class entropy falls below this fraction of ln 10"
    )
    seed: int = option(0, "random seed")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto picks CUDA when present")
    bf16: bool | None = option(
        None,
        "bf16 autocast of both networks' forward passes (losses, weights and optimizer state "
        "stay fp32); default: on where bf16 is fast (CPUs with AMX or AVX512-BF16: 1.6-1.9x "
        "the fp32 step), else off; off on CUDA GPUs too, where the step is launch-bound and "
        "bf16 ran at 0.67x the fp32 speed (H200)",
    )
    log_every: int = option(20, "steps between TensorBoard step scalars")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "noise_dim", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1")
        for name in ("checkpoint_every", "monitor_samples"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name.replace('_', '-')} must be >= 0")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError("lr-g and lr-d must be > 0")
        if not 0.0 <= self.adam_beta1 < 1.0:
            raise ValueError("adam-beta1 must be in [0, 1)")
        if self.info_weight < 0 or self.info_continuous_weight < 0:
            raise ValueError("info-weight and info-continuous-weight must be >= 0")
        if self.r1_gamma < 0:
            raise ValueError("r1-gamma must be >= 0")
        if not 0.0 <= self.g_ema < 1.0:
            raise ValueError("g-ema must be in [0, 1)")
        if self.g_ema_slow and not 0.0 < self.g_ema < self.g_ema_slow < 1.0:
            raise ValueError("g-ema-slow must be 0 (none) or in (g-ema, 1) with g-ema > 0")
        if self.conditional and self.info_codes:
            raise ValueError("conditional and info-codes both use the one-hot code: pick one")
        if self.monitor_samples == 1:
            raise ValueError("monitor-samples must be 0 or >= 2 (a covariance needs two)")
        self.arch()  # the architecture's own checks (dropout, d-width, codes, group size)

    @property
    def one_hot_codes(self) -> int:
        """Width of the latent's one-hot code: the InfoGAN codes, or a conditional run's labels."""
        return self.info_codes or (CLASSES if self.conditional else 0)

    def arch(self) -> DCGANConfig:
        return DCGANConfig(
            noise_dim=self.noise_dim,
            dropout=self.dropout,
            leaky_slope=self.leaky_slope,
            spectral_norm=self.spectral_norm,
            d_width=self.d_width,
            codes=self.one_hot_codes,
            continuous=self.info_continuous,
            minibatch_std=self.minibatch_std,
            conditional=self.conditional,
        )


@dataclass
class _Monitor:
    """The cached classifier and the training images' feature statistics it compares against."""

    model: nn.Module
    id: str
    real_mu: np.ndarray
    real_cov: np.ndarray


class GANTrainer(EpochTrainer):
    """The tutorial's DCGAN step, repeated: discriminator phase, generator phase, both updates."""

    @property
    def sum_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        keys = ("d_loss", "g_loss", "d_real", "d_fake")
        keys = (*keys, "code_loss", "code_accuracy") if self.cfg.info_codes else keys
        keys = (*keys, "continuous_loss", "continuous_r2") if self.cfg.info_continuous else keys
        return (*keys, "r1") if self.cfg.r1_gamma else keys

    def setup(self) -> int:
        cfg = self.cfg
        # Every training image is used (no validation split): a GAN has no held-out loss.
        self.data: GenData = load_gen_data(cfg.dataset, cfg.data_dir, 0, cfg.seed, self.device)
        self.gan = build_gan(cfg).to(self.device)
        if cfg.conditional:  # a resumed run loads the same frequencies back
            self.gan.set_code_prior(label_frequencies(self.data.train_y, CLASSES))
        # "auto" stays fp32 on CUDA: this small model is launch-bound there, and autocast's
        # casts cost more than its bf16 convolutions save (H200: 0.67x the fp32 step, RESULTS.md).
        cuda = self.device.type == "cuda"
        self.bf16 = bool(cfg.bf16) if cuda else resolve_bf16(cfg.bf16, self.device)
        # Under torchrun each rank's BatchNorm normalizes over its own slice of the batch. No
        # SyncBatchNorm: torch has none on the CPU, and on CUDA it would make the rank-0-only
        # sampling (precise BN runs the generator in train mode) wait for the other ranks.
        betas = (cfg.adam_beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.gan.generator.parameters(), lr=cfg.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.gan.discriminator.parameters(), lr=cfg.lr_d, betas=betas)
        self.g_params = list(self.gan.generator.parameters())
        self.d_params = list(self.gan.discriminator.parameters())
        self.generator = self.ddp(self.gan.generator)
        self.discriminator = self.ddp(self.gan.discriminator)
        g = derived_generator(cfg.seed, STREAM_EVAL, FIXED_NOISE_STREAM, device=self.device)
        self.fixed_noise = self._fixed_noise(g)
        self._samplers: dict[str, tuple[int, nn.Module]] = {}  # see _sampling_net
        self.monitor = self._load_monitor() if self.env.is_main and cfg.monitor_samples else None
        self.collapse_warnings: list[str] = []
        return len(self.data.train_x)

    def _fixed_noise(self, stream: torch.Generator) -> torch.Tensor:
        """The 16 latents of the per-epoch grids; with codes, code i % K in place i (row by
        row), so the grid shows what each code draws instead of a random selection."""
        z = self.gan.generator.latent(16, stream)
        k = self.cfg.one_hot_codes
        return with_code(z, k, torch.arange(16) % k) if k else z

    def modules(self) -> dict[str, Any]:
        return {"model": self.gan, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def weights(self) -> dict[str, nn.Module]:
        return {"model": self.gan}

    def train_step(self, idx: torch.Tensor) -> dict[str, float]:
        """One step of the tutorial on the global batch `idx`; this rank computes its slice."""
        cfg, g = self.cfg, self.step_generator()
        coded = bool(cfg.info_codes or cfg.info_continuous)  # D's code head guesses the codes
        z = self.gan.generator.latent(len(idx), g)[self.mine]  # [b, noise_dim + continuous + codes]
        # Dropout draws from torch's global stream: reseed it from this step's stream (and rank),
        # so a resumed run draws the masks an uninterrupted one draws.
        seed = int(torch.randint(2**62, (1,), generator=g, device=self.device))
        torch.manual_seed(seed + self.env.rank)
        real = to_gan_input(self.data.train_x[idx[self.mine]])  # [b, 1, 28, 28] in [-1, 1]
        real.requires_grad_(cfg.r1_gamma > 0)  # R1 differentiates D's real scores by the input
        real_y, fake_y = self._labels(idx, z)  # [b] each; None unless conditional

        # -- phase 1: discriminator. Real images should score 1, generated ones 0. -------------
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            fake = self.generator(z)  # [b, 1, 28, 28]; its graph is kept for phase 2
            # Two calls, as the tutorial: phase 2 then backpropagates through D on the b fakes
            # only (one call on cat([real, fake]) would carry zero gradients for the b reals).
            real_logits = self.discriminator(real, labels=real_y).float()  # [b]; losses in fp32
            if coded:
                fake_logits, guesses = self.discriminator(fake, with_code=True, labels=fake_y)
                fake_logits = fake_logits.float()  # [b]
            else:
                fake_logits = self.discriminator(fake, labels=fake_y).float()  # [b]
        d_loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
        d_objective, extra, code_term = d_loss, {}, 0.0
        if coded:
            # InfoGAN: both networks make the codes readable from the generated image.
            code_term, extra = self._code_term(z, guesses.float())
            d_objective = d_objective + code_term
        if cfg.r1_gamma:
            r1 = _r1_penalty(real_logits, real)
            d_objective, extra = d_objective + cfg.r1_gamma / 2 * r1, {**extra, "r1": r1.detach()}
        self.opt_d.zero_grad(set_to_none=True)
        d_objective.backward(inputs=self.d_params, retain_graph=True)

        # -- phase 2: generator. Non-saturating: maximize log D(G(z)) instead of minimizing
        # log(1 - D(G(z))), whose gradient vanishes while D easily rejects the samples. -----
        if cfg.gan_loss == "non-saturating":
            g_loss = _bce(fake_logits, 1.0)
        else:
            g_loss = -_bce(fake_logits, 0.0)
        self.opt_g.zero_grad(set_to_none=True)
        (g_loss + code_term).backward(inputs=self.g_params)

        # Both networks step from the same state, as the tutorial's two tapes do.
        self._set_learning_rates()
        self.opt_d.step()
        self.opt_g.step()
        if cfg.g_ema:
            self.gan.update_average(cfg.g_ema, self.global_step, cfg.g_ema_slow)
        logged = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": torch.sigmoid(real_logits).mean(),  # D's belief that reals are real
            "d_fake": torch.sigmoid(fake_logits).mean(),  # ... that fakes are real
            **extra,
        }
        # One transfer for all of them: on a GPU each .item() would wait for the queue to drain.
        values = torch.stack([v.detach().float() for v in logged.values()]).tolist()
        return dict(zip(logged, values, strict=True))

    def _labels(
        self, idx: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """A conditional run's labels of this rank's real images and of its fakes (the one-hot
        code of their latents `z`); (None, None) otherwise."""
        if not self.cfg.conditional:
            return None, None
        return self.data.train_y[idx[self.mine]], z[:, -CLASSES:].argmax(1)

    def _code_term(
        self, z: torch.Tensor, guesses: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """InfoGAN's term, weighted, from the latent `z` [b, width] and the code head's
        `guesses` [b, codes + continuous]: the categorical code's cross-entropy and the
        continuous codes' half squared error (summed over codes, averaged over images); with
        their logged values. `continuous_r2` is the share of the codes' variance (1/3) the head
        explains: 0 when it reads nothing, 1 when it reads them exactly."""
        k, c = self.cfg.info_codes, self.cfg.info_continuous
        term, extra = z.new_zeros(()), {}
        if k:
            code = z[:, -k:].argmax(1)  # [b]
            code_loss = F.cross_entropy(guesses[:, :k], code)
            term = term + self.cfg.info_weight * code_loss
            extra["code_loss"] = code_loss.detach()
            extra["code_accuracy"] = (guesses[:, :k].argmax(1) == code).float().mean()
        if c:
            target = z[:, continuous_columns(z.shape[1], k, c)]  # [b, c] in [-1, 1]
            sq_error = (guesses[:, k:] - target).pow(2)  # [b, c]
            continuous_loss = 0.5 * sq_error.sum(1).mean()
            term = term + self.cfg.info_continuous_weight * continuous_loss
            extra["continuous_loss"] = continuous_loss.detach()
            extra["continuous_r2"] = 1.0 - 3.0 * sq_error.detach().mean()
        return term, extra

    def _set_learning_rates(self) -> None:
        """This step's rates: --lr-g / --lr-d, scaled along the schedule (a function of the
        global step, so a resumed run continues the same decay)."""
        if self.cfg.lr_schedule == "constant":
            return
        scale = cosine_lr(1.0, self.global_step, self.total_steps)
        set_lr(self.opt_d, self.cfg.lr_d * scale)
        set_lr(self.opt_g, self.cfg.lr_g * scale)

    # -- per-epoch judging, samples, warnings -----------------------------------------------
    def _load_monitor(self) -> _Monitor | None:
        from cilab.gen.classifier import NoClassifier, classify, load_classifier
        from cilab.gen.sample_metrics import feature_stats

        try:
            loaded = load_classifier(None, self.cfg.dataset, self.device)
        except NoClassifier as e:
            note(f"sample monitor off ({e})")
            return None
        n = min(MONITOR_REAL_IMAGES, len(self.data.train_x))
        pick = torch.randperm(
            len(self.data.train_x), generator=derived_generator(0, STREAM_EVAL, MONITOR_REAL_STREAM)
        )[:n]
        _, feats = classify(loaded.model, self.data.train_x[pick.to(self.device)])
        print(f"sample monitor: classifier {loaded.id} ({loaded.path})", flush=True)
        return _Monitor(loaded.model, loaded.id, *feature_stats(feats))

    def validate(self) -> dict[str, float]:
        if self.monitor is None:
            return {}
        g = derived_generator(self.cfg.seed, STREAM_EVAL, MONITOR_NOISE_STREAM, device=self.device)
        z = self.gan.generator.latent(self.cfg.monitor_samples, g)
        # The same noise through each generator kept: only the weights differ. Beside an average
        # the trained generator too (val_*_raw), which a still-moving run can draw better.
        nets = {"": self._sampling_net()}
        if self.gan.generator_avg_slow is not None:
            nets["_slow"] = self._sampling_net("slow")
        if self.gan.generator_avg is not None:
            nets["_raw"] = self._sampling_net("raw")
        return {f"{k}{suffix}": v for suffix, net in nets.items() for k, v in self._judge(net, z)}

    def _judge(self, net: nn.Module, z: torch.Tensor) -> Iterator[tuple[str, float]]:
        """The monitor's numbers for the samples `net` draws from latents `z`."""
        from cilab.gen.classifier import classify
        from cilab.gen.sample_metrics import (
            class_entropy,
            feature_stats,
            frechet_distance,
            inception_score,
        )

        assert self.monitor is not None
        with torch.no_grad():
            images = torch.cat([net(zb).add(1).div(2) for zb in z.split(1000)])
        probs, feats = classify(self.monitor.model, images)
        yield "class_entropy", class_entropy(probs.argmax(1))
        yield "classifier_is", inception_score(probs)
        mu, cov = feature_stats(feats)
        yield "fd", frechet_distance(mu, cov, self.monitor.real_mu, self.monitor.real_cov)

    def _sampling_net(self, which: str = "average") -> nn.Module:
        """The eval-mode copy of `which` generator (see `DCGAN.sampling_generator`) samples
        come from, made once per training step."""
        step, net = self._samplers.get(which, (None, None))
        if step != self.global_step or net is None:
            g = derived_generator(self.cfg.seed, STREAM_EVAL, BN_STREAM, device=self.device)
            net = self.gan.sampling_generator(g, self.cfg.precise_bn, which)
            self._samplers[which] = (self.global_step, net)
        return net

    def best_metric_of(self, record: dict[str, Any]) -> float | None:
        return record.get("val_fd")

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        from cilab.viz.grid import save_gif, save_image_grid

        epoch = self.epoch  # completed epochs, = record["epoch"]
        samples = self.run_dir / "samples"
        with torch.no_grad():
            images = self._sampling_net()(self.fixed_noise).add(1).div(2)  # [16, 1, 28, 28]
        save_image_grid(images, samples / f"epoch_{epoch:03d}.png", nrow=4, scale=4)
        save_gif(_frames(samples, epoch), self.run_dir / "progress.gif", duration_ms=250)
        if self.cfg.checkpoint_every and epoch % self.cfg.checkpoint_every == 0:
            self.save_weights(f"epoch_{epoch:03d}.pt")
        for message in collapse_warnings(record, self.cfg):
            self.collapse_warnings.append(message)
            print(f"cilab: warning: {message}", file=sys.stderr, flush=True)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean binary cross-entropy of logits against a constant label (1: real, 0: fake)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||d logit / d x||^2 at the real images, differentiable in D's
    weights (double backward): near zero exactly when D is flat on the data, which is where
    GAN training converges (Mescheder et al. 2018). Costs a double backward through D, which
    has 1/8 of G's multiply-adds: epochs took about a fifth longer on the CPU (RESULTS.md)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def _frames(samples: Path, last_epoch: int) -> list[np.ndarray]:
    """The per-epoch grids up to `last_epoch`, in order (ignoring any a crashed run left after)."""
    from PIL import Image

    paths = sorted(samples.glob("epoch_*.png"))
    keep = [p for p in paths if p.stem[6:].isdigit() and int(p.stem[6:]) <= last_epoch]
    return [np.asarray(Image.open(p).convert("L")) for p in keep]


def collapse_warnings(record: dict[str, Any], cfg: GANTrainConfig) -> list[str]:
    """Messages for an epoch record that shows a failing GAN (empty when all is well)."""
    out = []
    epoch = record["epoch"]
    d_loss = record.get("train_d_loss")
    if d_loss is not None and d_loss < cfg.collapse_d_loss:
        out.append(
            f"epoch {epoch}: discriminator loss {d_loss:.3g} < {cfg.collapse_d_loss}: it rejects "
            "the generated digits outright, so the generator learns little; the run has likely "
            "failed (try another --seed, or a lower --lr-d)"
        )
    entropy = record.get("val_class_entropy")
    floor = cfg.collapse_entropy * math.log(10)
    if entropy is not None and entropy < floor:
        out.append(
            f"epoch {epoch}: generated digits cover few classes (class entropy {entropy:.3f} < "
            f"{floor:.3f} = {cfg.collapse_entropy} ln 10): mode collapse if it persists past "
            f"the first epochs; see samples/epoch_{epoch:03d}.png"
        )
    return out


def label_frequencies(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Each class's share of `labels` [N] -> [classes] float32, summing to 1."""
    counts = torch.bincount(labels, minlength=classes).float()
    return counts / counts.sum()


def build_gan(cfg: GANTrainConfig) -> DCGAN:
    """The DCGAN a config trains, with the weight averages it keeps."""
    return DCGAN(cfg.arch(), average=cfg.g_ema > 0, slow_average=cfg.g_ema_slow > 0)


def load_gan_run(
    run_dir: str | Path, checkpoint: str = "best", device: torch.device | None = None
) -> tuple[GANTrainConfig, DCGAN]:
    """The config and DCGAN of a run directory: best.pt (else last.pt), or e.g. `epoch_015`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CilabError(f"{run_dir}: no such run directory")
    path = run_dir / f"{checkpoint}.pt"
    if checkpoint == "best" and not path.exists():
        path = run_dir / "last.pt"  # no classifier while training, or stopped before epoch 1
    state = load_checkpoint(path)
    cfg = GANTrainConfig(**state["config"])
    gan = build_gan(cfg)
    gan.load_state_dict(state["model"])
    return cfg, gan.to(device or torch.device("cpu")).eval()


def train_gan(
    cfg: GANTrainConfig, resume: bool = False, typed: set[str] | None = None
) -> TrainResult:
    """Train the DCGAN as configured; see `GANTrainer`."""
    return GANTrainer(cfg, resume=resume, typed=typed).fit()
