"""The DCGAN of the TensorFlow tutorial (the exercise's Problem 3), layer for layer.

Generator: Dense(100 -> 7*7*256, no bias) -> BN -> LeakyReLU -> reshape 256x7x7
-> ConvT(256->128, 5x5, s1) -> BN -> LeakyReLU -> ConvT(128->64, 5x5, s2) -> BN -> LeakyReLU
-> ConvT(64->1, 5x5, s2) -> tanh: 28x28 images in [-1, 1]. Every layer without bias, as in the
tutorial (BatchNorm's shift makes a bias redundant).

Discriminator: Conv(1->64, 5x5, s2) -> LeakyReLU -> Dropout(0.3) -> Conv(64->128, 5x5, s2)
-> LeakyReLU -> Dropout(0.3) -> Flatten -> Dense(1): one logit per image. `d_width` w (not in
the tutorial) makes its channels 64w and 128w: the tutorial's D has a tenth of G's parameters
and an eighth of its FLOPs per image (10 M vs 83 M multiply-adds), so widening it is cheap.

Keras defaults are kept where PyTorch's differ: LeakyReLU slope 0.3 (not 0.01), BatchNorm
momentum 0.99 / epsilon 1e-3 (PyTorch's momentum=0.01, eps=1e-3), Glorot-uniform kernels and
zero biases. 'same' padding: 5x5 kernels pad 2; a stride-2 ConvT adds output_padding=1 so 7 -> 14
-> 28 exactly. Parameters: G 2,305,472 trainable (+25,472 BN statistics, Keras' 2.33 M),
D 212,865.

`DCGAN` holds both networks so a checkpoint's `model` entry is one state dict
(`generator.*`, `discriminator.*`), like every other cilab model.

Sampling and BatchNorm: in eval mode the generator normalizes with moving averages of momentum
0.99 that start at mean 0, variance 1. The dense layer's outputs have variance ~0.016, so after
one epoch (234 steps, 0.99^234 = 9 % of the start value left) the stored variance is still ~7x
too large and eval-mode samples come out black. `DCGAN.sample` therefore uses, by default, a
copy of the generator whose statistics are recomputed exactly for its current weights ("precise
BN", 8 batches of 256 noise vectors); `precise_bn=False` samples the tutorial's way.

Weight averaging (`DCGAN(average=True)`, `--g-ema` in training; not in the tutorial): a GAN's
generator never settles, it orbits the equilibrium, and per-epoch sample quality jumps with it.
An exponential moving average of its weights (Yazici et al. 2019, "The Unusual Effectiveness of
Averaging in GAN Training"; BigGAN and StyleGAN sample from one too) sits nearer the centre of
the orbit. `generator_avg` holds that average; it is never trained, and when present every
sample comes from it (with precise BN its statistics are recomputed for the averaged weights,
which moving-averaged running statistics would not match). `generator_avg_slow`
(`--g-ema-slow`) is an optional second average with a longer memory: since neither feeds back,
one run judges two decays on the very same training (`gen eval --weights slow`).

A categorical code (`DCGANConfig(codes=K)`, `--info-codes` in training; not in the tutorial;
InfoGAN, Chen et al. 2016): the generator's input is the Gaussian noise with a one-hot code of K
equally likely values appended, and the discriminator gets a second head that guesses the code
of a generated image. Both networks minimize that guess's cross-entropy, so G must make the code
readable from the image; on MNIST K = 10 codes tend to become the ten digits (`gen eval`'s
`code_purity` measures how far; RESULTS.md). The point is the shape of
the prior: one connected Gaussian has to be carried across the gaps between the classes, and
those crossings are the broken in-between strokes (`cilab.gen.jacobian`); a discrete code lets
the generator jump between classes instead.

Continuous codes (`DCGANConfig(continuous=C)`, `--info-continuous`; InfoGAN's other half): C
more inputs, each uniform on [-1, 1], placed between the noise and the one-hot code, and C more
outputs of the code head that guess them back (a unit-variance Gaussian's log-likelihood, i.e.
half the squared error). Where the categorical code picks the digit, these must change the image
in ways D can read off it; on MNIST the paper's two became slant and stroke width. The point here
is variety within a class: a style the generator must draw on demand is one it cannot drop.
Latent layout: [noise_dim Gaussian | C uniform | K one-hot].

A class-conditional DCGAN (`DCGANConfig(codes=10, conditional=True)`, `--conditional`; not in
the tutorial; the projection discriminator of Miyato & Koyama 2018): the one-hot code is the
digit's label instead of a free code. Fakes get labels drawn from the training set's label
frequencies (`Generator.code_prior`, set from the data), reals their own, and the discriminator
scores an image x with label y as head(h) + <embed(y), h>, h its features: the projection of
the features on the label's embedding. So D compares the generated 4s with the real 4s, not
with all digits, and a generator that draws too few ways of writing a 4 is caught among the
4s; with labels drawn at the data's frequencies the samples follow p(y) p(x | y) = p(x), the
distribution the FD compares against. A categorical InfoGAN code has to discover the classes
and only tells D which code it guesses; the label tells D which real images to compare with.

A minibatch-std channel (`DCGANConfig(minibatch_std=G)`, `--minibatch-std`; not in the tutorial;
ProGAN, Karras et al. 2018): the discriminator's last feature map gets one more channel, the
spread of the features within groups of G images. D judges each image alone otherwise, so a
generator that draws the same few shapes of each digit costs it nothing; with the channel a batch
of fakes that varies less than a batch of reals is visible. Real and fake images go through D in
separate calls (`gan_train`), so a group never mixes them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cilab.core.config import option

WEIGHTS = ("average", "slow", "raw")  # which generator samples: see DCGAN.select_weights


@dataclass
class DCGANConfig:
    """The architecture's knobs; the defaults are the tutorial's."""

    noise_dim: int = option(100, "size of the generator's input noise")
    dropout: float = option(0.3, "discriminator dropout rate")
    leaky_slope: float = option(0.3, "LeakyReLU negative slope (Keras' default)")
    spectral_norm: bool = option(False, "spectral normalization of the discriminator's layers")
    d_width: int = option(1, "multiplier of the discriminator's channels (1: 64, 128)")
    codes: int = option(0, "values of the categorical code appended to the noise (0: none)")
    continuous: int = option(0, "uniform [-1, 1] codes between the noise and the one-hot (0: none)")
    minibatch_std: int = option(0, "group size of D's minibatch-std channel (0: none)")
    conditional: bool = option(False, "the one-hot code is the class label (projection D)")

    def __post_init__(self) -> None:
        if self.noise_dim < 1:
            raise ValueError("noise-dim must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.d_width < 1:
            raise ValueError("d-width must be >= 1")
        if self.codes < 0 or self.codes == 1:
            raise ValueError("info-codes must be 0 (none) or >= 2")
        if self.continuous < 0:
            raise ValueError("info-continuous must be >= 0")
        if self.minibatch_std < 0 or self.minibatch_std == 1:
            raise ValueError("minibatch-std must be 0 (none) or a group size >= 2")
        if self.conditional and self.codes < 2:
            raise ValueError("a conditional DCGAN needs codes = its number of classes (>= 2)")


def _bn(channels: int) -> nn.Module:
    # Keras BatchNormalization(momentum=0.99, epsilon=1e-3); PyTorch's momentum is 1 - Keras'.
    return nn.BatchNorm1d(channels, momentum=0.01, eps=1e-3)


def _bn2d(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, momentum=0.01, eps=1e-3)


def _glorot_(module: nn.Module) -> None:
    """Keras' initialization: Glorot-uniform kernels, zero biases (BatchNorm stays 1/0)."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _spectral_norm_(module: nn.Module) -> None:
    """Divide each conv/dense kernel (and a projection's label embedding) by its largest
    singular value (Miyato et al. 2018), estimated by one power iteration per training-mode
    forward pass (its vectors `_u`, `_v` are buffers, so checkpoints and torchrun's buffer
    broadcast carry them). Every layer then has Lipschitz constant ~1 on its reshaped kernel,
    so the discriminator cannot sharpen its decision boundary faster than the generator
    follows: a stronger D without the mode dropping a plain stronger D causes (RESULTS.md)."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in module.named_children():
        if isinstance(child, nn.Linear | nn.Conv2d | nn.Embedding):
            setattr(module, name, spectral_norm(child))
        else:
            _spectral_norm_(child)


def draw_latent(
    n: int,
    noise_dim: int,
    codes: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    temperature: float = 1.0,
    continuous: int = 0,
    prior: torch.Tensor | None = None,
) -> torch.Tensor:
    """The generator's input: [n, noise_dim] noise ~ N(0, temperature^2 I), then (with
    `continuous` > 0) that many codes uniform on [-1, 1], then (with `codes` > 0) a one-hot code,
    uniform over its values or drawn from `prior` [codes] (a conditional run's label
    frequencies) -> [n, noise_dim + continuous + codes]. The temperature scales the
    noise only. Without codes it draws exactly `torch.randn((n, noise_dim))`, the tutorial's
    noise, and each part is drawn after the ones before it, so adding a part leaves them as
    they were."""
    parts = [torch.randn((n, noise_dim), generator=generator, device=device) * temperature]
    if continuous:
        u = torch.rand((n, continuous), generator=generator, device=device)
        parts.append(u.mul(2).sub(1))
    if codes:
        if prior is None:
            c = torch.randint(codes, (n,), generator=generator, device=device)
        else:
            c = torch.multinomial(prior, n, replacement=True, generator=generator)
        parts.append(F.one_hot(c, codes).to(parts[0].dtype))
    return torch.cat(parts, dim=1)


class Generator(nn.Module):
    """latent [B, noise_dim + continuous + codes] -> images [B, 1, 28, 28] in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DCGANConfig()
        self.noise_dim, self.codes, self.continuous = cfg.noise_dim, cfg.codes, cfg.continuous
        # A conditional generator's label frequencies (uniform until `DCGAN.set_code_prior`);
        # None otherwise, which keeps it out of the state dict (older checkpoints load).
        prior = torch.full((cfg.codes,), 1.0 / cfg.codes) if cfg.conditional else None
        self.code_prior: torch.Tensor | None
        self.register_buffer("code_prior", prior)
        slope = cfg.leaky_slope
        self.project = nn.Sequential(
            nn.Linear(cfg.noise_dim + cfg.continuous + cfg.codes, 7 * 7 * 256, bias=False),
            _bn(7 * 7 * 256),
            nn.LeakyReLU(slope),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False),  # 7 -> 7
            _bn2d(128),
            nn.LeakyReLU(slope),
            nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
            _bn2d(64),  # 7 -> 14
            nn.LeakyReLU(slope),
            nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.Tanh(),  # 14 -> 28
        )
        _glorot_(self)

    def latent(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """`n` draws of this generator's input (`draw_latent`), on its device."""
        device = next(self.parameters()).device
        return draw_latent(
            n, self.noise_dim, self.codes, generator, device, temperature, self.continuous,
            self.code_prior,
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, 256, 7, 7)  # [B, 12544] -> [B, 256, 7, 7]
        return self.upsample(h)  # [B, 1, 28, 28]

    @torch.no_grad()
    def with_precise_bn(
        self, generator: torch.Generator | None = None, batches: int = 8, batch_size: int = 256
    ) -> Generator:
        """An eval-mode copy whose BatchNorm statistics are the exact averages, over `batches`
        noise batches, of the batch statistics of the current weights (self is unchanged)."""
        net = copy.deepcopy(self)
        bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average instead of an exponential one
        net.train()
        for _ in range(batches):
            net(self.latent(batch_size, generator))
        return net.eval()


class MinibatchStd(nn.Module):
    """Append one channel: the mean over features of each group's per-feature standard deviation
    (ProGAN, Karras et al. 2018). A generator that draws too little variety makes batches of
    fakes with a smaller spread than batches of reals, and this channel lets the discriminator see
    it, which no per-image feature can. Groups are `group` images apart in the batch
    (image i joins group i % (B / G)); when `group` does not divide the batch, the largest
    divisor of B not above it is used (a batch of one gets spread 0).

    [B, C, H, W] -> [B, C + 1, H, W]; the statistic is computed in fp32 under autocast.
    """

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = max(d for d in range(1, min(self.group, b) + 1) if b % d == 0)
        y = x.float().reshape(g, b // g, -1)  # [G, B/G, C*H*W]; any memory format
        spread = y.var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=1)  # [B/G]
        channel = spread.repeat(g).to(x.dtype).view(b, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([x, channel], dim=1)


class Discriminator(nn.Module):
    """images [B, 1, 28, 28] in [-1, 1] -> logits [B] (real > 0); with codes, also the code
    head's guesses [B, codes + continuous] (`forward(x, with_code=True)`): the categorical code's
    logits, then the continuous codes' means. A conditional one scores (image, label) pairs
    (`forward(x, labels=y)`, y [B] int64) and guesses only the continuous codes back."""

    def __init__(self, cfg: DCGANConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DCGANConfig()
        slope, c = cfg.leaky_slope, 64 * cfg.d_width
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 5, stride=2, padding=2),  # 28 -> 14
            nn.LeakyReLU(slope),
            nn.Dropout(cfg.dropout),
            nn.Conv2d(c, 2 * c, 5, stride=2, padding=2),  # 14 -> 7
            nn.LeakyReLU(slope),
            nn.Dropout(cfg.dropout),
        )
        if cfg.minibatch_std:  # appended after the parameterized layers: old checkpoints load
            self.features.append(MinibatchStd(cfg.minibatch_std))  # [B, 2c + 1, 7, 7]
        self.features.append(nn.Flatten())  # [B, 98c] (6272 in the tutorial), +49 with the std
        width = (2 * c + (1 if cfg.minibatch_std else 0)) * 7 * 7
        self.head = nn.Linear(width, 1)
        # The projection's label embedding [codes, width]: <embed(y), h> is added to the logit.
        self.embed = nn.Embedding(cfg.codes, width) if cfg.conditional else None
        _glorot_(self)
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight)
        if cfg.spectral_norm:
            _spectral_norm_(self)
        # InfoGAN's Q: a classifier sharing D's features, outside spectral normalization (its
        # sharpness does not feed the generator's real/fake gradient).
        guesses = (0 if cfg.conditional else cfg.codes) + cfg.continuous
        self.code_head = nn.Linear(width, guesses) if guesses else None
        if self.code_head is not None:
            _glorot_(self.code_head)

    def forward(
        self, x: torch.Tensor, with_code: bool = False, labels: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)  # [B, 98c] (+49)
        logits = self.head(h).squeeze(1)  # [B, 1] -> [B]
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator scores images with their labels")
            logits = logits + (self.embed(labels) * h).sum(1)  # [B, 98c] . [B, 98c] -> [B]
        if not with_code:
            return logits
        if self.code_head is None:
            raise RuntimeError("this discriminator has no code head (built without codes)")
        return logits, self.code_head(h)  # [B], [B, codes + continuous]


class DCGAN(nn.Module):
    """The generator and the discriminator of one run, saved and loaded together."""

    def __init__(
        self, cfg: DCGANConfig | None = None, average: bool = False, slow_average: bool = False
    ) -> None:
        super().__init__()
        self.cfg = cfg or DCGANConfig()
        self.generator = Generator(self.cfg)
        self.discriminator = Discriminator(self.cfg)
        # The averaged generators (see the module docstring); registered submodules, so
        # checkpoints carry them and a resumed run continues the same averages. The slow one
        # is a second average with a longer memory, kept beside the first to compare the two
        # on one and the same training run (it never feeds back, so it costs one lerp a step).
        self.generator_avg: Generator | None = None
        self.generator_avg_slow: Generator | None = None
        if average:
            self.generator_avg = copy.deepcopy(self.generator).requires_grad_(False)
        if slow_average:
            if not average:
                raise ValueError("a slow weight average needs the first one (average=True)")
            self.generator_avg_slow = copy.deepcopy(self.generator).requires_grad_(False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    @torch.no_grad()
    def set_code_prior(self, prior: torch.Tensor) -> None:
        """A conditional DCGAN's label frequencies [codes], in every generator it keeps (the
        averages sample with them too)."""
        for net in (self.generator, self.generator_avg, self.generator_avg_slow):
            if net is not None:
                if net.code_prior is None:
                    raise RuntimeError("only a conditional DCGAN draws labels from a prior")
                net.code_prior.copy_(prior)

    @torch.no_grad()
    def update_average(self, decay: float, step: int, slow_decay: float = 0.0) -> None:
        """Move `generator_avg` towards the generator: avg <- d * avg + (1 - d) * weights
        (and `generator_avg_slow` likewise with `slow_decay`, when kept).

        d = min(decay, (1 + step) / (10 + step)), TensorFlow's ExponentialMovingAverage with
        num_updates: early on the average follows quickly, instead of remembering the random
        initialization for ~1/(1 - decay) steps. BatchNorm statistics are copied, not averaged.
        """
        if self.generator_avg is None:
            raise RuntimeError("this DCGAN keeps no weight average (build it with average=True)")
        pairs = [(self.generator_avg, decay)]
        if self.generator_avg_slow is not None:
            pairs.append((self.generator_avg_slow, slow_decay))
        for avg, target in pairs:
            d = min(target, (1 + step) / (10 + step))
            for a, w in zip(avg.parameters(), self.generator.parameters(), strict=True):
                a.lerp_(w, 1.0 - d)
            for a, b in zip(avg.buffers(), self.generator.buffers(), strict=True):
                a.copy_(b)

    def select_weights(self, which: str) -> DCGAN:
        """Make `which` generator the one samples come from: "average" (the run's own choice:
        the average where kept, else the generator), "slow" (the slow average) or "raw" (the
        trained generator, no average), to compare them on one checkpoint. Returns self."""
        net = self._weights(which)
        self.generator_avg = None if net is self.generator else net
        if which == "slow":
            self.generator_avg_slow = None
        return self

    def _weights(self, which: str) -> Generator:
        """The generator `which` (one of `WEIGHTS`) names; a clear error for one not kept."""
        if which == "average":
            return self.generator if self.generator_avg is None else self.generator_avg
        if which == "raw":
            return self.generator
        if which != "slow":
            raise ValueError(f"unknown weights {which!r}: one of {', '.join(WEIGHTS)}")
        if self.generator_avg_slow is None:
            raise ValueError("this run kept no slow weight average (train with --g-ema-slow)")
        return self.generator_avg_slow

    def sampling_generator(
        self,
        generator: torch.Generator | None = None,
        precise_bn: bool = True,
        which: str = "average",
    ) -> Generator:
        """An eval-mode copy of `which` generator (one of `WEIGHTS`: the averaged one when kept,
        the slow average, or the trained one) to sample with: precise BatchNorm statistics
        (drawn from `generator`), or with `precise_bn=False` the stored moving averages."""
        net = self._weights(which)
        if precise_bn:
            return net.with_precise_bn(generator)
        return copy.deepcopy(net).eval()

    def decoder(
        self, generator: torch.Generator | None = None, precise_bn: bool = True
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """latent -> images in [0, 1] through `sampling_generator` (call it under no_grad)."""
        net = self.sampling_generator(generator, precise_bn)
        return lambda z: net(z).add(1).div(2)  # [-1, 1] -> [0, 1]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        batch_size: int = 1000,
        precise_bn: bool = True,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """`n` images in [0, 1], [n, 1, 28, 28], from latents with N(0, temperature^2 I) noise
        drawn from `generator` (after the precise-BN noise, which stays N(0, I): the statistics
        belong to the noise the generator was trained on). Weights, buffers and modes of `self`
        stay as they were."""
        decode = self.decoder(generator, precise_bn)
        z = self.generator.latent(n, generator, temperature)
        return torch.cat([decode(z[s : s + batch_size]) for s in range(0, n, batch_size)])


def to_gan_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 28, 28] -> float [B, 1, 28, 28] in [-1, 1], the generator's tanh range."""
    return images_u8.unsqueeze(1).float().div_(127.5).sub_(1.0)
