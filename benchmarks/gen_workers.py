"""The measured loops of bench_gen.py: what runs inside each fresh worker process.

Not a script: `bench_gen.py --model M --worker W` calls `run(M, W, ...)` in a process of its
own. Also the FLOP counts that need the models (FlopCounterMode on a real step); the analytic
cross-checks are in bench_gen.py. Every torch / cilab import is local, so that the driver
imports nothing heavy before it starts the workers.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BATCH = 256


# -- timing, shared by the loops -------------------------------------------------------------
class _Window:
    """Wall and CPU time from the end of step `warmup` to the end of step `warmup + steps`."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.images, self.t0, self.c0 = warmup, 0, 0.0, 0.0
        self.seconds = self.cpu_s = 0.0

    def step_done(self, step: int, images: int) -> None:
        if step == self.warmup:
            self.t0, self.c0 = time.perf_counter(), time.process_time()
        elif step > self.warmup:
            self.images += images
            self.seconds = time.perf_counter() - self.t0
            self.cpu_s = time.process_time() - self.c0

    def result(self) -> dict[str, Any]:
        import torch

        return {
            "images": self.images,
            "seconds": self.seconds,
            "cpu_s": self.cpu_s,
            "threads": torch.get_num_threads(),
        }


def timed_loop(
    loader: Iterable[Any], step: Callable[[Any], int], steps: int, warmup: int
) -> dict[str, Any]:
    """A tutorial's `for epoch: for batch in loader: step(batch)` until `warmup + steps` steps;
    `step` returns the number of images it trained on."""
    window, n = _Window(warmup), 0
    while n < warmup + steps:
        for batch in loader:
            n += 1
            window.step_done(n, step(batch))
            if n == warmup + steps:
                break
    return window.result()


def timed_fit(make_trainer: Callable[[str], Any], warmup: int) -> dict[str, Any]:
    """cilab's own loop: `make_trainer(out)` (with max_steps) then `fit()`, timed per step."""
    with tempfile.TemporaryDirectory(prefix="bench_gen_") as tmp:
        trainer = make_trainer(str(Path(tmp) / "run"))
        window = _Window(warmup)
        trainer.fit(on_step=lambda t: window.step_done(t.global_step, t.cfg.batch_size))
    return {**window.result(), "procs": int(os.environ.get("WORLD_SIZE", "1"))}


# -- the exercise VAE ------------------------------------------------------------------------
def stock_conv_transpose(module: Any) -> int:
    """Turn cilab's `FastConvTranspose2d` layers back into `nn.ConvTranspose2d`, in place.

    cilab's VAE builds its decoder with the fast layers; a user writing the exercise from the
    tutorial has the stock ones. Same parameters and state_dict: only the class changes.
    """
    from torch import nn

    from cilab.gen.models.fast_ops import FastConvTranspose2d

    n = 0
    for m in module.modules():
        if isinstance(m, FastConvTranspose2d):
            m.__class__ = nn.ConvTranspose2d
            n += 1
    return n


def vae_plain(data_dir: str, steps: int, warmup: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from cilab.data.mnist import load_mnist
    from cilab.gen.models.vae import VAE

    torch.manual_seed(0)
    x_float = load_mnist("train", "mnist", data_dir, download=False).images.unsqueeze(1).float()
    x_float /= 255.0
    loader = DataLoader(TensorDataset(x_float), batch_size=BATCH, shuffle=True)
    model = VAE(latent_dim=2)
    stock_conv_transpose(model)  # the architecture as the tutorial's user writes it
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses: list[float] = []

    def step(batch: list[torch.Tensor]) -> int:
        (x,) = batch
        loss = model.loss(x, x).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        return len(x)

    return {**timed_loop(loader, step, steps, warmup), "final_loss": losses[-1]}


def vae_cilab(
    data_dir: str, steps: int, warmup: int, stock: bool = False, bf16: bool = False
) -> dict[str, Any]:
    """cilab's trainer as committed; `stock=True` swaps its fast layers for the stock ones, to
    tell the loop's share of the speed-up from the layers'."""
    from cilab.gen import train as gen_train

    if stock:
        build = gen_train.build_gen_model

        def build_stock(cfg: Any) -> Any:
            model = build(cfg)
            stock_conv_transpose(model)
            return model

        gen_train.build_gen_model = build_stock

    def make(out: str) -> Any:
        cfg = gen_train.GenTrainConfig(
            model="vae",
            data_dir=data_dir,
            out=out,
            epochs=10_000,
            max_steps=warmup + steps,
            batch_size=BATCH,
            lr=1e-3,
            latent_dim=2,
            val_size=0,
            device="cpu",
            seed=0,
            bf16=bf16,
        )
        return gen_train.GenTrainer(cfg)

    return timed_fit(make, warmup)


def counted_vae_flops(batch: int = 32) -> float:
    """FLOPs per image of one VAE training step (loss forward + backward), by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cilab.gen.models.vae import VAE

    torch.manual_seed(0)
    model = VAE(latent_dim=2)
    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model.loss(x, x).loss.backward()
    return counter.get_total_flops() / batch


# -- the tutorial's DCGAN --------------------------------------------------------------------
class TutorialDCGANStep:
    """The TF tutorial's `train_step` as a PyTorch user writes it from the tutorial.

    noise -> G; D(real) and D(fake) as two calls; BCE-with-logits losses; the two tapes as two
    `autograd.grad` calls (G's loss w.r.t. G's weights, D's loss w.r.t. D's weights); both Adam
    steps; the losses fetched with `.item()`.
    """

    def __init__(self, gan: Any, lr: float = 1e-4, device: str = "cpu") -> None:
        import torch
        from torch import nn

        self.device = torch.device(device)
        gan.to(self.device)
        self.generator, self.discriminator = gan.generator, gan.discriminator
        self.noise_dim = gan.cfg.noise_dim
        self.g_params = list(self.generator.parameters())
        self.d_params = list(self.discriminator.parameters())
        self.opt_g = torch.optim.Adam(self.g_params, lr=lr)
        self.opt_d = torch.optim.Adam(self.d_params, lr=lr)
        self.cross_entropy = nn.BCEWithLogitsLoss()

    def __call__(self, images: Any) -> tuple[float, float]:
        import torch

        bce = self.cross_entropy
        images = images.to(self.device, non_blocking=True)
        noise = torch.randn(len(images), self.noise_dim, device=self.device)
        generated = self.generator(noise)
        real_output = self.discriminator(images)
        fake_output = self.discriminator(generated)
        g_loss = bce(fake_output, torch.ones_like(fake_output))
        d_loss = bce(real_output, torch.ones_like(real_output))
        d_loss = d_loss + bce(fake_output, torch.zeros_like(fake_output))
        g_grads = torch.autograd.grad(g_loss, self.g_params, retain_graph=True)
        d_grads = torch.autograd.grad(d_loss, self.d_params)
        for params, grads in ((self.g_params, g_grads), (self.d_params, d_grads)):
            for p, grad in zip(params, grads, strict=True):
                p.grad = grad
        self.opt_g.step()
        self.opt_d.step()
        return g_loss.item(), d_loss.item()


def dcgan_plain(data_dir: str, steps: int, warmup: int, device: str = "cpu") -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from cilab.data.mnist import load_mnist
    from cilab.gen.models.dcgan import DCGAN

    torch.manual_seed(0)
    images = load_mnist("train", "mnist", data_dir, download=False).images.unsqueeze(1).float()
    images = (images - 127.5) / 127.5  # [-1, 1], the generator's tanh range
    cuda = device == "cuda"  # the PyTorch tutorials' GPU recipe: pinned batches, copied async
    loader = DataLoader(TensorDataset(images), batch_size=BATCH, shuffle=True, pin_memory=cuda)
    train_step = TutorialDCGANStep(DCGAN(), device=device)
    losses: list[tuple[float, float]] = []

    def step(batch: list[torch.Tensor]) -> int:
        losses.append(train_step(batch[0]))
        return len(batch[0])

    result = timed_loop(loader, step, steps, warmup)
    return {**result, "final_g_loss": losses[-1][0], "final_d_loss": losses[-1][1]}


def dcgan_cilab(
    data_dir: str, steps: int, warmup: int, device: str = "cpu", variant: str = ""
) -> dict[str, Any]:
    """cilab's trainer as committed, with the variant's changes (names joined by '-'):

    - bf16: `bf16=True` (autocast of both forward passes);
    - tf32: TF32 matrix products (`torch.backends.cuda.matmul`; cuDNN's convolutions use TF32
      by default already);
    - cl: both networks' weights in channels_last, so cuDNN picks NHWC kernels;
    - compile: `torch.compile` of both networks (default mode: inductor's fused kernels);
    - graphs: the same in mode "reduce-overhead" (the fused kernels replayed as CUDA graphs).
    """
    import torch

    from cilab.gen.gan_train import GANTrainConfig, GANTrainer

    parts = set(filter(None, variant.split("-")))
    unknown = parts - {"bf16", "tf32", "cl", "compile", "graphs"}
    if unknown:
        raise SystemExit(f"unknown cilab variant part(s) {sorted(unknown)}")
    if "tf32" in parts:
        torch.backends.cuda.matmul.allow_tf32 = True

    def make(out: str) -> Any:
        cfg = GANTrainConfig(
            data_dir=data_dir,
            out=out,
            epochs=10_000,
            max_steps=warmup + steps,
            batch_size=BATCH,
            monitor_samples=0,
            checkpoint_every=0,
            device=device,  # type: ignore[arg-type]
            seed=0,
            bf16="bf16" in parts,
        )
        trainer = GANTrainer(cfg)
        if "cl" in parts:
            trainer.gan.to(memory_format=torch.channels_last)  # in place: optimizers keep them
        if parts & {"compile", "graphs"}:
            mode = "reduce-overhead" if "graphs" in parts else None
            trainer.generator = torch.compile(trainer.generator, mode=mode)
            trainer.discriminator = torch.compile(trainer.discriminator, mode=mode)
        return trainer

    return timed_fit(make, warmup)


def counted_dcgan_flops(data_dir: str, batch: int = 32) -> dict[str, float]:
    """FLOPs per training image of one DCGAN step, by FlopCounterMode: `cilab` (a real
    `GANTrainer.train_step`, fp32) and `tutorial` (`TutorialDCGANStep`, the plain loop's)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cilab.gen.gan_train import GANTrainConfig, GANTrainer
    from cilab.gen.models.dcgan import DCGAN

    with tempfile.TemporaryDirectory(prefix="bench_gen_") as tmp:
        cfg = GANTrainConfig(
            data_dir=data_dir,
            out=str(Path(tmp) / "run"),
            batch_size=batch,
            monitor_samples=0,
            checkpoint_every=0,
            device="cpu",
            bf16=False,
        )
        trainer = GANTrainer(cfg)
        trainer.train_mode()
        with FlopCounterMode(display=False) as counter:
            trainer.train_step(torch.arange(batch))
        cilab = counter.get_total_flops() / batch
    torch.manual_seed(0)
    step = TutorialDCGANStep(DCGAN())
    with FlopCounterMode(display=False) as counter:
        step(torch.rand(batch, 1, 28, 28) * 2 - 1)
    return {"cilab": cilab, "tutorial": counter.get_total_flops() / batch}


# -- dispatch --------------------------------------------------------------------------------
Worker = Callable[[str, int, int, str], dict[str, Any]]  # (data_dir, steps, warmup, device)
WORKERS: dict[str, dict[str, Worker]] = {
    "vae": {
        "plain": lambda d, s, w, dev: vae_plain(d, s, w),
        "cilab": lambda d, s, w, dev: vae_cilab(d, s, w),
        "cilab-stock": lambda d, s, w, dev: vae_cilab(d, s, w, stock=True),
        "cilab-bf16": lambda d, s, w, dev: vae_cilab(d, s, w, bf16=True),
    },
    "dcgan": {"plain": dcgan_plain},  # and cilab[-variant]: see `run`
}


def run(
    model: str, worker: str, data_dir: str, steps: int, warmup: int, device: str = "cpu"
) -> dict[str, Any]:
    """One measurement, in this process: images, seconds, cpu_s, threads, ..., img_per_s."""
    if model == "vae" and device != "cpu":
        raise SystemExit("the VAE loops run on the CPU only (--device cpu)")
    fn = WORKERS.get(model, {}).get(worker)
    if fn is None and model == "dcgan" and worker.split("-")[0] == "cilab":
        variant = worker.removeprefix("cilab").lstrip("-")
        fn = lambda d, s, w, dev: dcgan_cilab(d, s, w, dev, variant)  # noqa: E731
    if fn is None:
        raise SystemExit(f"unknown worker {worker!r} for model {model!r}")
    result = fn(data_dir, steps, warmup, device)
    result["img_per_s"] = result["images"] / result["seconds"]
    return {**result, "device": device}
