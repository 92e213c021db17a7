"""DCGAN training mechanics, run-directory outputs, and the `gen` commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cilab.cli.main import main
from cilab.core.checkpoint import load_checkpoint
from cilab.core.errors import CilabError
from cilab.gen.gan_train import (
    GANTrainConfig,
    GANTrainer,
    collapse_warnings,
    load_gan_run,
    train_gan,
)
from conftest import write_fake_mnist


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 training and 64 test fake digits: 3 steps per epoch at batch 32."""
    root = tmp_path_factory.mktemp("small")
    write_fake_mnist(root / "mnist", n_train=96, n_test=64)
    return root


def cfg_for(data: Path, out: Path, **kw: object) -> GANTrainConfig:
    base = dict(data_dir=str(data), out=str(out), epochs=2, batch_size=32, device="cpu",
                checkpoint_every=1, bf16=False)  # fmt: skip  # exact fp32 unless a test asks
    return GANTrainConfig(**{**base, **kw})


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("options", [{}, {"minibatch_std": 4}], ids=["tutorial", "minibatch-std"])
def test_step_changes_both_networks_and_sampling_does_not(
    small_mnist: Path, tmp_path, options: dict
) -> None:
    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "r", **options))
    before = snapshot(trainer.gan)
    values = trainer.train_step(torch.arange(32))
    assert set(values) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert 0 < values["d_real"] < 1 and 0 < values["d_fake"] < 1
    for name, p in trainer.gan.named_parameters():
        assert not torch.equal(before[name], p), name  # every weight of G and of D moved
    after = snapshot(trainer.gan)
    trainer.gan.sample(40, torch.Generator().manual_seed(0))
    trainer.validate()
    assert_same(after, trainer.gan.state_dict())  # BatchNorm statistics included
    assert trainer.gan.generator.training


def test_step_computes_the_tutorials_two_tape_gradients(small_mnist: Path, tmp_path) -> None:
    """Same gradients as the tutorial's train_step: G(z) once, D on reals and on fakes
    separately, each network's loss differentiated with respect to its own weights."""
    import copy

    import torch.nn.functional as F

    from cilab.gen.models.dcgan import to_gan_input

    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "r", dropout=0.0))
    ref = copy.deepcopy(trainer.gan).train()
    idx = torch.arange(32)
    z = torch.randn((32, 100), generator=trainer.step_generator())  # the step's own noise
    fake = ref.generator(z)
    real_out = ref.discriminator(to_gan_input(trainer.data.train_x[idx]))
    fake_out = ref.discriminator(fake)
    gen_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    disc_loss = F.binary_cross_entropy_with_logits(
        real_out, torch.ones_like(real_out)
    ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
    g_grads = torch.autograd.grad(gen_loss, list(ref.generator.parameters()), retain_graph=True)
    d_grads = torch.autograd.grad(disc_loss, list(ref.discriminator.parameters()))
    values = trainer.train_step(idx)
    assert values["g_loss"] == pytest.approx(gen_loss.item(), rel=1e-5)
    assert values["d_loss"] == pytest.approx(disc_loss.item(), rel=1e-5)
    for p, expected in zip(trainer.g_params + trainer.d_params, g_grads + d_grads, strict=True):
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-7)


def test_r1_penalty_adds_gamma_half_grad_norm_to_the_discriminator_gradient(
    small_mnist: Path, tmp_path: Path
) -> None:
    """--r1-gamma: D's gradient is the tutorial's plus gamma/2 times the gradient of the mean
    squared input-gradient norm at the reals (a double backward); G's gradient is unchanged."""
    import copy

    import torch.nn.functional as F

    from cilab.gen.models.dcgan import to_gan_input

    gamma = 5.0
    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "r", dropout=0.0, r1_gamma=gamma))
    ref = copy.deepcopy(trainer.gan).train()
    idx = torch.arange(32)
    z = torch.randn((32, 100), generator=trainer.step_generator())
    real = to_gan_input(trainer.data.train_x[idx]).requires_grad_(True)
    real_out, fake = ref.discriminator(real), ref.generator(z)
    fake_out = ref.discriminator(fake)
    (dx,) = torch.autograd.grad(real_out.sum(), real, create_graph=True)
    r1 = (dx**2).sum((1, 2, 3)).mean()
    bce = F.binary_cross_entropy_with_logits(
        real_out, torch.ones_like(real_out)
    ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
    gen_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    g_grads = torch.autograd.grad(gen_loss, list(ref.generator.parameters()), retain_graph=True)
    d_grads = torch.autograd.grad(bce + gamma / 2 * r1, list(ref.discriminator.parameters()))
    values = trainer.train_step(idx)
    assert values["r1"] == pytest.approx(r1.item(), rel=1e-5) and values["r1"] > 0
    assert values["d_loss"] == pytest.approx(bce.item(), rel=1e-5)  # reported without penalty
    for p, expected in zip(trainer.g_params + trainer.d_params, g_grads + d_grads, strict=True):
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-7)
    assert (
        "r1" in trainer.sum_keys
        and "r1" not in GANTrainer(cfg_for(small_mnist, tmp_path / "off")).sum_keys
    )


def test_info_codes_add_the_code_cross_entropy_to_both_networks(
    small_mnist: Path, tmp_path: Path
) -> None:
    """--info-codes K: the step's latent ends in a one-hot code; D's code head guesses it from
    the fake, and both networks' gradients gain info_weight times that cross-entropy's."""
    import copy

    import torch.nn.functional as F

    from cilab.gen.models.dcgan import draw_latent, to_gan_input

    k, weight = 10, 2.0
    trainer = GANTrainer(
        cfg_for(small_mnist, tmp_path / "r", dropout=0.0, info_codes=k, info_weight=weight)
    )
    ref = copy.deepcopy(trainer.gan).train()
    idx = torch.arange(32)
    z = draw_latent(32, 100, k, trainer.step_generator())  # the step's own latent
    assert z.shape == (32, 110)
    code = z[:, 100:].argmax(1)
    fake = ref.generator(z)
    real_out = ref.discriminator(to_gan_input(trainer.data.train_x[idx]))
    fake_out, code_out = ref.discriminator(fake, with_code=True)
    code_loss = F.cross_entropy(code_out, code)
    gen_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    disc_loss = F.binary_cross_entropy_with_logits(
        real_out, torch.ones_like(real_out)
    ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
    g_grads = torch.autograd.grad(
        gen_loss + weight * code_loss, list(ref.generator.parameters()), retain_graph=True
    )
    d_grads = torch.autograd.grad(
        disc_loss + weight * code_loss, list(ref.discriminator.parameters())
    )
    values = trainer.train_step(idx)
    assert values["code_loss"] == pytest.approx(code_loss.item(), rel=1e-5)
    assert values["code_accuracy"] == pytest.approx((code_out.argmax(1) == code).float().mean())
    assert values["d_loss"] == pytest.approx(disc_loss.item(), rel=1e-5)  # without the code
    assert trainer.gan.discriminator.code_head.weight.grad.abs().sum() > 0
    for p, expected in zip(trainer.g_params + trainer.d_params, g_grads + d_grads, strict=True):
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-7)
    assert {"code_loss", "code_accuracy"} <= set(trainer.sum_keys)
    with pytest.raises(ValueError, match="info-codes must be 0"):  # refused before any work
        cfg_for(small_mnist, tmp_path / "bad", info_codes=1)
    # The per-epoch grid shows code i % K in place i.
    assert torch.equal(trainer.fixed_noise[:, 100:].argmax(1), torch.arange(16) % k)
    assert torch.equal(trainer.fixed_noise[:, 100:].sum(1), torch.ones(16))


def test_conditional_step_scores_reals_and_fakes_with_their_labels(
    small_mnist: Path, tmp_path: Path
) -> None:
    """--conditional: fakes' labels are their latents' one-hot code, reals' their own; both
    networks' gradients are those of the losses of D's projection scores with those labels."""
    import copy

    import torch.nn.functional as F

    from cilab.gen.gan_train import label_frequencies
    from cilab.gen.models.dcgan import draw_latent, to_gan_input

    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "r", dropout=0.0, conditional=True))
    prior = label_frequencies(trainer.data.train_y, 10)
    assert prior.sum().item() == pytest.approx(1.0) and prior.min() < prior.max()  # 96 digits
    assert torch.equal(trainer.gan.generator.code_prior, prior)
    ref = copy.deepcopy(trainer.gan).train()
    idx = torch.arange(32)
    z = draw_latent(32, 100, 10, trainer.step_generator(), prior=prior)  # the step's own latent
    fake_y, real_y = z[:, 100:].argmax(1), trainer.data.train_y[idx]
    fake_out = ref.discriminator(ref.generator(z), labels=fake_y)
    real_out = ref.discriminator(to_gan_input(trainer.data.train_x[idx]), labels=real_y)
    disc_loss = F.binary_cross_entropy_with_logits(
        real_out, torch.ones_like(real_out)
    ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
    gen_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    g_grads = torch.autograd.grad(gen_loss, list(ref.generator.parameters()), retain_graph=True)
    d_grads = torch.autograd.grad(disc_loss, list(ref.discriminator.parameters()))
    values = trainer.train_step(idx)
    assert set(values) == {"d_loss", "g_loss", "d_real", "d_fake"}  # no code to guess back
    assert values["d_loss"] == pytest.approx(disc_loss.item(), rel=1e-5)
    assert trainer.gan.discriminator.embed.weight.grad.abs().sum() > 0
    for p, expected in zip(trainer.g_params + trainer.d_params, g_grads + d_grads, strict=True):
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-7)
    assert torch.equal(trainer.fixed_noise[:, 100:].argmax(1), torch.arange(16) % 10)
    with pytest.raises(ValueError, match="pick one"):
        cfg_for(small_mnist, tmp_path / "bad", conditional=True, info_codes=10)


def test_conditional_run_resumes_and_is_judged_label_by_label(
    small_mnist: Path, tmp_path: Path
) -> None:
    from cilab.gen.classifier import LoadedClassifier, MnistClassifier, classify
    from cilab.gen.codes import CODE_IMAGES, judge_codes, with_code
    from cilab.gen.generators import GENERATORS, decode_all

    opts = dict(conditional=True, g_ema=0.9, collapse_d_loss=100.0, monitor_samples=0)
    train_gan(cfg_for(small_mnist, tmp_path / "full", **opts))
    train_gan(cfg_for(small_mnist, tmp_path / "part", max_steps=4, **opts))
    train_gan(cfg_for(small_mnist, tmp_path / "part"), resume=True, typed=set())
    a, b = load_checkpoint(tmp_path / "full/last.pt"), load_checkpoint(tmp_path / "part/last.pt")
    assert_same(a["model"], b["model"])
    assert "discriminator.embed.weight" in a["model"] and "generator_avg.code_prior" in a["model"]
    gen = GENERATORS["dcgan"](tmp_path / "full", "last", torch.device("cpu"))
    assert gen.critic is None  # D needs labels: no rejection sampling
    z = gen.noise(4000, torch.Generator().manual_seed(0), 1.0)
    torch.testing.assert_close(  # the training labels' frequencies
        z[:, 100:].mean(0), a["model"]["generator.code_prior"], atol=0.03, rtol=0
    )
    clf = LoadedClassifier(MnistClassifier(), "untrained", tmp_path / "none.pt", None)
    judged = judge_codes(gen, 10, clf, torch.Generator().manual_seed(1), None, labelled=True)
    # label_accuracy: the judge's label equals the one asked for, sample by sample.
    stream = torch.Generator().manual_seed(1)
    decode = gen.decoder(stream)
    asked = torch.arange(10).repeat_interleave(CODE_IMAGES)
    images = decode_all(decode, with_code(gen.noise(len(asked), stream, 1.0), 10, asked))
    said = classify(clf.model, images)[0].argmax(1)
    assert judged["label_accuracy"] == pytest.approx((said == asked.numpy()).mean())
    assert judged["label_accuracy"] <= judged["code_purity"]
    unlabelled = judge_codes(gen, 10, clf, torch.Generator().manual_seed(1), None)
    assert "label_accuracy" not in unlabelled


def test_continuous_codes_add_their_squared_error_to_both_networks(
    small_mnist: Path, tmp_path: Path
) -> None:
    """--info-continuous C beside --info-codes K: the code head's last C outputs guess the
    latent's uniform columns, and both networks' gradients gain info_continuous_weight times
    half their squared error (summed over codes, averaged over images) on top of the
    categorical term; continuous_r2 is 1 - mean squared error / (1/3)."""
    import copy

    import torch.nn.functional as F

    from cilab.gen.models.dcgan import draw_latent

    k, c, w_code, w_cont = 10, 2, 0.5, 3.0
    opts = dict(dropout=0.0, info_codes=k, info_continuous=c, info_weight=w_code,
                info_continuous_weight=w_cont)  # fmt: skip
    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "r", **opts))
    ref = copy.deepcopy(trainer.gan).train()
    idx = torch.arange(32)
    z = draw_latent(32, 100, k, trainer.step_generator(), continuous=c)  # the step's own latent
    fake = ref.generator(z)
    fake_out, guesses = ref.discriminator(fake, with_code=True)
    code_loss = F.cross_entropy(guesses[:, :k], z[:, 102:].argmax(1))
    sq_error = (guesses[:, k:] - z[:, 100:102]).pow(2)
    cont_loss = 0.5 * sq_error.sum(1).mean()
    term = w_code * code_loss + w_cont * cont_loss
    gen_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    g_grads = torch.autograd.grad(gen_loss + term, list(ref.generator.parameters()))
    values = trainer.train_step(idx)
    assert values["continuous_loss"] == pytest.approx(cont_loss.item(), rel=1e-5)
    assert values["continuous_r2"] == pytest.approx(1 - 3 * sq_error.mean().item(), rel=1e-5)
    assert values["code_loss"] == pytest.approx(code_loss.item(), rel=1e-5)
    for p, expected in zip(trainer.g_params, g_grads, strict=True):
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-7)
    head = trainer.gan.discriminator.code_head.weight.grad  # [k + c, features]
    assert head[k:].abs().sum() > 0  # the continuous rows learn too
    assert {"continuous_loss", "continuous_r2"} <= set(trainer.sum_keys)
    with pytest.raises(ValueError, match="info-continuous-weight"):
        cfg_for(small_mnist, tmp_path / "bad", info_continuous=2, info_continuous_weight=-1.0)


def test_continuous_codes_are_judged_by_sweeping_them(small_mnist: Path, tmp_path: Path) -> None:
    """gen eval of a run with continuous codes: `continuous_class_kept` per code, in [0, 1],
    the same for the same stream, and continuous_grid.png with 9 columns and 10 rows per code."""
    from cilab.gen.classifier import LoadedClassifier, MnistClassifier
    from cilab.gen.codes import judge_continuous
    from cilab.gen.generators import GENERATORS

    opts = dict(info_codes=4, info_continuous=2, collapse_d_loss=100.0, monitor_samples=0)
    train_gan(cfg_for(small_mnist, tmp_path / "run", max_steps=2, **opts))
    gen = GENERATORS["dcgan"](tmp_path / "run", "last", torch.device("cpu"))
    z = gen.noise(50, torch.Generator().manual_seed(0), 0.5)
    assert gen.noise_dims == 100 and z.shape == (50, 106)
    assert z[:, 100:102].abs().max() <= 1  # the temperature scales the noise only
    clf = LoadedClassifier(MnistClassifier(), "untrained", tmp_path / "none.pt", None)
    judged = judge_continuous(gen, 4, 2, clf, torch.Generator().manual_seed(1), tmp_path)
    kept = judged["continuous_class_kept"]
    assert len(kept) == 2 and all(0 <= v <= 1 for v in kept)
    assert judged == judge_continuous(gen, 4, 2, clf, torch.Generator().manual_seed(1), None)
    width, height = Image.open(tmp_path / "continuous_grid.png").size
    assert 0.25 < width / height < 0.7  # 2 codes x 10 rows of 9 columns


def test_info_codes_resume_and_evaluate_with_jacobian_truncation(
    small_mnist: Path, tmp_path: Path
) -> None:
    """A run with codes resumes exactly and its checkpoint loads back with the code head; the
    evaluation's Jacobian probes move only the Gaussian columns of the latent."""
    from cilab.gen.classifier import LoadedClassifier, MnistClassifier
    from cilab.gen.codes import judge_codes
    from cilab.gen.generators import GENERATORS

    opts = dict(info_codes=4, collapse_d_loss=100.0, monitor_samples=0)
    train_gan(cfg_for(small_mnist, tmp_path / "full", **opts))
    train_gan(cfg_for(small_mnist, tmp_path / "part", max_steps=4, **opts))
    train_gan(cfg_for(small_mnist, tmp_path / "part"), resume=True, typed=set())
    a, b = load_checkpoint(tmp_path / "full/last.pt"), load_checkpoint(tmp_path / "part/last.pt")
    assert_same(a["model"], b["model"])
    assert "discriminator.code_head.weight" in a["model"]
    records = [json.loads(x) for x in (tmp_path / "full/metrics.jsonl").read_text().splitlines()]
    assert all(0 <= r["train_code_accuracy"] <= 1 for r in records)
    gen = GENERATORS["dcgan"](tmp_path / "full", "last", torch.device("cpu"))
    z = gen.noise(50, torch.Generator().manual_seed(0), 0.5)
    assert gen.noise_dims == 100 and z.shape == (50, 104)
    assert torch.equal(z[:, 100:].sum(1), torch.ones(50))  # temperature leaves the code alone
    images = gen.sampler()(20, torch.Generator().manual_seed(0), 1.0)
    assert images.shape == (20, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    # Judged code by code: an untrained judge's labels still give a purity in [0.1, 1] and a
    # grid of 10 samples for each of the 4 codes.
    clf = LoadedClassifier(MnistClassifier(), "untrained", tmp_path / "none.pt", None)
    judged = judge_codes(gen, 4, clf, torch.Generator().manual_seed(1), tmp_path)
    assert 0.1 <= judged["code_purity"] <= 1 and 1 <= judged["code_classes"] <= 4
    digits = judged["code_digits"]
    assert len(digits) == 4 and set(digits) <= set(range(10))
    assert len(set(digits)) == judged["code_classes"]
    assert judged == judge_codes(gen, 4, clf, torch.Generator().manual_seed(1), None)
    width, height = Image.open(tmp_path / "code_grid.png").size
    assert 1.5 < width / height < 3.5  # 4 rows of 10


def test_cosine_schedule_scales_both_learning_rates_by_the_global_step(
    small_mnist: Path, tmp_path: Path
) -> None:
    """--lr-schedule cosine: step s of S = epochs * steps_per_epoch (here 2 * 3) runs at
    lr * (1 + cos(pi s / S)) / 2 for both networks; constant keeps the flags' rates."""
    import math

    trainer = GANTrainer(
        cfg_for(small_mnist, tmp_path / "c", lr_schedule="cosine", lr_g=2e-4, lr_d=4e-4)
    )
    for step in (0, 2, 3, 5):
        trainer.global_step = step
        trainer.train_step(torch.arange(32))
        scale = (1 + math.cos(math.pi * step / 6)) / 2
        assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * scale)
        assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 * scale)
    constant = GANTrainer(cfg_for(small_mnist, tmp_path / "k", lr_g=2e-4, lr_d=4e-4))
    constant.global_step = 5
    constant.train_step(torch.arange(32))
    assert constant.opt_g.param_groups[0]["lr"] == 2e-4
    assert constant.opt_d.param_groups[0]["lr"] == 4e-4


def test_bf16_step_follows_the_fp32_step_and_keeps_fp32_weights(small_mnist: Path, tmp_path):
    """--bf16 autocasts the networks only: same losses and gradients up to bf16 rounding (about
    3 significant digits), weights and gradients stay fp32."""
    runs = {}
    for bf16 in (False, True):
        trainer = GANTrainer(cfg_for(small_mnist, tmp_path / f"b{bf16}", dropout=0.0, bf16=bf16))
        values = trainer.train_step(torch.arange(32))
        grads = [p.grad.clone() for p in trainer.g_params + trainer.d_params]
        runs[bf16] = values, grads, trainer
    (v32, g32, _), (v16, g16, t16) = runs[False], runs[True]
    assert v16["d_loss"] != v32["d_loss"]  # autocast really ran in bf16 ...
    assert v16["d_loss"] == pytest.approx(v32["d_loss"], rel=0.02)  # ... to bf16 accuracy
    assert v16["g_loss"] == pytest.approx(v32["g_loss"], rel=0.02)
    assert all(g.dtype == torch.float32 for g in g16)
    assert all(p.dtype == torch.float32 for p in t16.gan.parameters())
    assert t16.bf16 is True and runs[False][2].bf16 is False
    a, b = torch.cat([g.flatten() for g in g16]), torch.cat([g.flatten() for g in g32])
    assert torch.linalg.vector_norm(a - b) <= 0.05 * torch.linalg.vector_norm(b)


def test_minimax_loss_is_the_negated_fake_term(small_mnist: Path, tmp_path: Path) -> None:
    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "m", gan_loss="minimax"))
    values = trainer.train_step(torch.arange(32))
    # g_loss = log(1 - D(G(z))) averaged: negative, and about log(1 - d_fake).
    assert values["g_loss"] < 0
    assert values["g_loss"] == pytest.approx(np.log(1 - values["d_fake"]), abs=0.1)


@pytest.mark.parametrize(
    "options", [{}, {"spectral_norm": True}], ids=["tutorial", "spectral-norm"]
)  # spectral norm's power-iteration vectors must travel in the checkpoint too
def test_resume_equals_uninterrupted_run_and_outputs(
    small_mnist: Path, tmp_path: Path, options: dict
) -> None:
    full = train_gan(cfg_for(small_mnist, tmp_path / "full", collapse_d_loss=100.0, **options))
    assert (full.status, full.epoch, full.global_step) == ("finished", 2, 6)
    part = train_gan(cfg_for(small_mnist, tmp_path / "part", max_steps=4, **options))  # epoch 2
    assert (part.status, part.global_step) == ("max_steps", 4)
    rest = train_gan(cfg_for(small_mnist, tmp_path / "part"), resume=True, typed=set())
    assert rest.global_step == 6
    a, b = load_checkpoint(tmp_path / "full/last.pt"), load_checkpoint(tmp_path / "part/last.pt")
    assert_same(a["model"], b["model"])  # exact: same noise, batches and dropout masks
    assert any(k.endswith("._u") for k in a["model"]) == bool(options)
    assert_same(a["opt_g"]["state"][0], b["opt_g"]["state"][0])
    full_lines = (tmp_path / "full/metrics.jsonl").read_text().splitlines()
    part_lines = (tmp_path / "part/metrics.jsonl").read_text().splitlines()
    for x, y in zip(map(json.loads, full_lines), map(json.loads, part_lines), strict=True):
        assert x["train_d_loss"] == pytest.approx(y["train_d_loss"], rel=1e-12)
    # The run directory: per-epoch grids, the GIF, periodic weights; no best.pt without a judge.
    run = tmp_path / "full"
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert Image.open(run / "samples/epoch_001.png").size == (4 * 122, 4 * 122)  # 4x4, 4x scale
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 2
    assert_same(load_checkpoint(run / "epoch_002.pt")["model"], a["model"])
    assert not (run / "best.pt").exists()
    cfg, gan = load_gan_run(run)  # falls back to last.pt
    assert cfg.model == "dcgan" and not gan.training
    assert_same(gan.state_dict(), a["model"])


def test_weight_average_follows_the_generator_and_is_what_samples(small_mnist: Path, tmp_path):
    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "ema", g_ema=0.9))
    gan = trainer.gan
    avg = snapshot(gan.generator_avg)
    assert_same(avg, snapshot(gan.generator))  # starts at the generator's initialization
    for step in range(2):
        trainer.train_step(torch.arange(32))
        trainer.global_step += 1
        d = min(0.9, (1 + step) / (10 + step))  # 0.1, then 2/11: the warm-up, by hand
        w = dict(gan.generator.named_parameters())
        for name, p in gan.generator_avg.named_parameters():
            torch.testing.assert_close(p, d * avg[name] + (1 - d) * w[name])
            assert not p.requires_grad and not torch.equal(p, w[name])
        for (name, b), (_, own) in zip(
            gan.generator_avg.named_buffers(), gan.generator.named_buffers(), strict=True
        ):
            assert torch.equal(b, own), name  # BatchNorm statistics are copied
        avg = snapshot(gan.generator_avg)
    sampler = gan.sampling_generator(precise_bn=False)
    assert_same(snapshot(sampler), avg)  # samples come from the average
    with pytest.raises(RuntimeError, match="no weight average"):
        GANTrainer(cfg_for(small_mnist, tmp_path / "plain")).gan.update_average(0.9, 0)
    with pytest.raises(ValueError, match="g-ema"):
        cfg_for(small_mnist, tmp_path / "bad", g_ema=1.0)


def test_resume_continues_the_weight_averages_exactly(small_mnist: Path, tmp_path: Path) -> None:
    # Decays below the warm-up's (1 + step) / (10 + step), so the two averages differ at once.
    opts = dict(g_ema=0.05, g_ema_slow=0.5, monitor_samples=0)
    full = train_gan(cfg_for(small_mnist, tmp_path / "full", **opts))
    train_gan(cfg_for(small_mnist, tmp_path / "part", **opts, max_steps=4))
    train_gan(cfg_for(small_mnist, tmp_path / "part"), resume=True, typed=set())
    a, b = load_checkpoint(tmp_path / "full/last.pt"), load_checkpoint(tmp_path / "part/last.pt")
    assert any(k.startswith("generator_avg_slow.") for k in a["model"])
    assert_same(a["model"], b["model"])
    cfg, gan = load_gan_run(full.run_dir)  # eval builds both averaged generators back
    assert (cfg.g_ema, cfg.g_ema_slow) == (0.05, 0.5) and gan.generator_avg_slow is not None
    assert_same(gan.state_dict(), a["model"])
    fast, slow = gan.generator_avg.state_dict(), gan.generator_avg_slow.state_dict()
    assert any(not torch.equal(fast[k], slow[k]) for k in fast)
    for bad in (dict(g_ema_slow=0.9), dict(g_ema=0.9, g_ema_slow=0.9), dict(g_ema_slow=-1.0)):
        with pytest.raises(ValueError, match="g-ema-slow must be"):
            cfg_for(small_mnist, tmp_path / "bad", **bad)


def test_collapse_warnings_name_the_epoch(small_mnist: Path, tmp_path: Path, capsys) -> None:
    cfg = GANTrainConfig()
    assert collapse_warnings({"epoch": 3, "train_d_loss": 1.2, "val_class_entropy": 2.2}, cfg) == []
    (msg,) = collapse_warnings({"epoch": 7, "train_d_loss": 0.01}, cfg)
    assert msg.startswith("epoch 7: discriminator loss 0.01 < 0.1")
    (msg,) = collapse_warnings({"epoch": 9, "train_d_loss": 1.0, "val_class_entropy": 0.7}, cfg)
    assert msg.startswith("epoch 9: generated digits cover few classes") and "mode collapse" in msg
    trainer = GANTrainer(cfg_for(small_mnist, tmp_path / "w", epochs=1, collapse_d_loss=100.0))
    trainer.fit()
    assert len(trainer.collapse_warnings) == 1 and trainer.collapse_warnings[0].startswith(
        "epoch 1"
    )
    assert "cilab: warning: epoch 1: discriminator loss" in capsys.readouterr().err


def test_gen_commands_end_to_end(small_mnist: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    data = ["--data-dir", str(small_mnist)]
    # Without a classifier, a DCGAN run cannot be judged, and the message says what to do.
    run = tmp_path / "gan"
    gan_args = ["gen", "train", "--model", "dcgan", *data, "--out", str(run), "--epochs", "1",
                "--batch-size", "32", "--monitor-samples", "50", "--g-ema", "0.05",
                "--g-ema-slow", "0.5", "--checkpoint-every", "1"]  # fmt: skip
    assert main(["gen", "classifier", *data, "--epochs", "2", "--batch-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "classifier" in out
    assert main(gan_args) == 0
    record = json.loads((run / "metrics.jsonl").read_text())
    assert {"val_fd", "val_class_entropy", "val_classifier_is"} <= record.keys()
    assert record["val_fd_slow"] != record["val_fd"]  # the slow average, judged beside it
    assert record["val_fd_raw"] not in (record["val_fd"], record["val_fd_slow"])  # and G itself
    assert (run / "best.pt").exists()  # chosen by val_fd
    assert main(["gen", "eval", str(run), "--samples", "60"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    keys = ("classifier_is", "fd", "fd_real_floor", "class_entropy", "precision", "recall",
            "nn_train_distance")  # fmt: skip
    for k in keys:
        assert isinstance(metrics[k], float) and np.isfinite(metrics[k]), k
    assert 1.0 <= metrics["classifier_is"] <= 10.0 and 0 <= metrics["precision"] <= 1
    assert metrics["samples"] == 60
    assert 0 <= metrics["fd_mean_term"] <= metrics["fd"] + 1e-9  # the rest is the spread's
    for key in ("fd_by_class", "fd_real_floor_by_class"):  # a value or None per digit
        assert len(metrics[key]) == 10 and all(v is None or v >= 0 for v in metrics[key]), key
    assert "fd_by_class" in capsys.readouterr().out
    figures = ("sample_grid.png", "curves.png", "fd_by_class.png")
    assert all((run / f).exists() for f in figures)
    # Cooler noise: other samples, recorded as such; --no-figures leaves the figures alone.
    (run / "sample_grid.png").unlink()
    assert main(["gen", "eval", str(run), "--samples", "60", "--temperature", "0.5",
                 "--no-figures"]) == 0  # fmt: skip
    cool = json.loads((run / "metrics.json").read_text())
    assert (metrics["sample_temperature"], cool["sample_temperature"]) == (1.0, 0.5)
    assert cool["fd"] != metrics["fd"] and not (run / "sample_grid.png").exists()
    capsys.readouterr()
    assert main(["gen", "eval", str(run), "--temperature", "0"]) == 2
    assert capsys.readouterr().err.strip() == "cilab: error: temperature must be > 0, not 0.0"
    # Discriminator rejection sampling: other samples, recorded with the acceptance rate; an
    # evaluation without it clears those keys.
    monkeypatch.setattr("cilab.gen.rejection.BURN_IN", 200)
    plain_eval = ["gen", "eval", str(run), "--samples", "60", "--no-figures"]
    assert main([*plain_eval, "--rejection-quantile", "0.9"]) == 0
    assert not (run / "critic_extremes.png").exists()
    assert main([*plain_eval[:-1], "--rejection-quantile", "0.9"]) == 0  # with figures
    width, height = Image.open(run / "critic_extremes.png").size
    assert width > 1.8 * height  # the burn-in's 50 least and 50 most real samples side by side
    drs = json.loads((run / "metrics.json").read_text())
    assert drs["rejection_quantile"] == 0.9 and 0 < drs["acceptance_rate"] <= 1
    assert drs["samples"] == 60 and drs["fd"] != metrics["fd"]
    assert main(plain_eval) == 0
    again = json.loads((run / "metrics.json").read_text())
    assert again["rejection_quantile"] is None and again["acceptance_rate"] is None
    assert again["fd"] == metrics["fd"]  # the same seed's plain samples
    # Three draws: the first is the plain evaluation's, the others what --seed 1 and 2 draw.
    assert again["draw_seeds"] == [0] and again["fd_draws"] == [again["fd"]]
    capsys.readouterr()
    assert main([*plain_eval, "--draws", "3"]) == 0
    three = json.loads((run / "metrics.json").read_text())
    printed = f"{three['class_entropy_draws'][1]:.4g}"  # four digits: entropies differ in them
    assert f"class_entropy_draws  {three['class_entropy_draws'][0]:.4g} {printed} " in (
        capsys.readouterr().out
    )
    assert three["draw_seeds"] == [0, 1, 2] and three["fd"] == metrics["fd"]
    assert main([*plain_eval, "--seed", "2"]) == 0
    seed2 = json.loads((run / "metrics.json").read_text())
    for key in ("fd", "classifier_is", "class_entropy"):
        assert three[f"{key}_draws"][0] == metrics[key]
        assert three[f"{key}_draws"][2] == seed2[key]
    assert len(set(three["fd_draws"])) == 3
    capsys.readouterr()
    assert main([*plain_eval, "--draws", "0"]) == 2
    assert capsys.readouterr().err.strip() == "cilab: error: draws must be >= 1, not 0"
    # A periodic checkpoint by name: epoch 1's weights are best.pt's here, so the same numbers.
    assert main([*plain_eval, "--checkpoint", "epoch_001"]) == 0
    by_epoch = json.loads((run / "metrics.json").read_text())
    assert by_epoch["sample_checkpoint"] == "epoch_001" and by_epoch["fd"] == metrics["fd"]
    capsys.readouterr()
    assert main([*plain_eval, "--checkpoint", "epoch_002"]) == 2  # never written
    assert capsys.readouterr().err.strip().endswith("epoch_002.pt: checkpoint not found")
    with pytest.raises(SystemExit):  # argparse's usage error
        main([*plain_eval, "--checkpoint", "newest"])
    assert "is not best, last or epoch_NNN" in capsys.readouterr().err
    # Jacobian truncation likewise: recorded with its cap and the kept share, the burn-in's
    # smoothest and steepest samples drawn, cleared by a plain evaluation.
    monkeypatch.setattr("cilab.gen.jacobian.BURN_IN", 200)
    assert main([*plain_eval[:-1], "--jacobian-quantile", "0.8"]) == 0
    assert Image.open(run / "jacobian_extremes.png").size[0] > 1.8 * height
    jbt = json.loads((run / "metrics.json").read_text())
    assert jbt["jacobian_quantile"] == 0.8 and jbt["jacobian_cap"] > 0
    assert jbt["jacobian_norm"] == "relative"  # cilab's default
    assert 0.5 < jbt["jacobian_kept"] < 1 and jbt["fd"] != metrics["fd"]
    assert main(plain_eval) == 0
    assert json.loads((run / "metrics.json").read_text())["jacobian_kept"] is None
    # The slow average and the raw generator: other weights, the same noise, recorded as such.
    for weights in ("slow", "raw"):
        assert main([*plain_eval, "--weights", weights]) == 0
        other = json.loads((run / "metrics.json").read_text())
        assert other["sample_weights"] == weights and other["fd"] != metrics["fd"]
    no_slow = ["gen", "train", "--model", "dcgan", *data, "--out", str(tmp_path / "plain"),
               "--max-steps", "1", "--batch-size", "32", "--g-ema", "0.5"]  # fmt: skip
    assert main(no_slow) == 0
    capsys.readouterr()
    assert main(["gen", "eval", str(tmp_path / "plain"), "--weights", "slow"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("plain: this run kept no slow weight average (train with --g-ema-slow)")
    )
    capsys.readouterr()
    assert main([*plain_eval, "--jacobian-norm", "absolute"]) == 2  # a norm of nothing
    assert "--jacobian-norm chooses the norm of --jacobian-quantile" in capsys.readouterr().err
    capsys.readouterr()
    assert main([*plain_eval, "--rejection-quantile", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "cilab: error: rejection quantile must be in (0, 1], not 2.0"
    )
    # DCGAN runs compare by their monitor curves (they have no latent space to show).
    assert main(["gen", "compare", str(run), str(run), "--out", str(tmp_path / "cmp.png")]) == 0
    assert Image.open(tmp_path / "cmp.png").size == (3 * 504, 408)  # FD, IS, class entropy
    # The real test set as the reference row.
    real = tmp_path / "real"
    capsys.readouterr()
    assert main(["gen", "eval", "--real", *data, "--out", str(real), "--jacobian-quantile",
                 "0.5"]) == 2  # fmt: skip
    assert "--jacobian-quantile filters a generator's samples" in capsys.readouterr().err
    assert main(["gen", "eval", "--real", *data, "--out", str(real), "--draws", "2"]) == 2
    assert "--draws judges a generator's sample sets" in capsys.readouterr().err
    assert main(["gen", "eval", "--real", *data, "--out", str(real)]) == 0
    ref = json.loads((real / "metrics.json").read_text())
    assert ref["fd"] == pytest.approx(ref["fd_real_floor"])
    assert ref["fd_by_class"] == pytest.approx(ref["fd_real_floor_by_class"])  # the same images
    assert ref["classifier"] == metrics["classifier"]
    assert (real / "sample_grid.png").exists()
    # Continuing needs no --model: the run's own is used; flags of other models are refused.
    assert main(["gen", "train", "--out", str(run), "--epochs", "2", "--resume"]) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    capsys.readouterr()
    assert main([*gan_args[:-2], "--latent-dim", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--latent-dim: not an option of --model dcgan" in capsys.readouterr().err


def test_vae_eval_adds_sample_metrics_when_a_classifier_exists(
    small_mnist: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ["--data-dir", str(small_mnist)]
    run = tmp_path / "vae"
    assert main(["gen", "train", "--model", "vae", *data, "--out", str(run), "--epochs", "1",
                 "--batch-size", "32", "--val-size", "32"]) == 0  # fmt: skip
    eval_args = ["gen", "eval", str(run), "--iw-samples", "0", "--samples", "40", "--no-figures"]
    assert main([*eval_args, "--temperature", "-1"]) == 2  # refused before the likelihood work
    capsys.readouterr()
    assert main([*eval_args, "--rejection-quantile", "0.9"]) == 2  # no discriminator: likewise
    assert "--rejection-quantile needs a DCGAN run" in capsys.readouterr().err
    assert main([*eval_args, "--weights", "slow"]) == 2
    assert "--weights picks a DCGAN's generator; a vae run" in capsys.readouterr().err
    assert not (run / "metrics.json").exists()
    assert main(eval_args) == 0  # no classifier: skipped with a note, the rest as before
    assert "classifier_is" not in json.loads((run / "metrics.json").read_text())
    assert main(["gen", "classifier", *data, "--max-steps", "2", "--batch-size", "32"]) == 0
    assert main([*eval_args, "--temperature", "0.5"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert "test_neg_elbo" in metrics and metrics["samples"] == 40
    assert metrics["sample_temperature"] == 0.5  # prior draws z ~ N(0, 0.25 I)
    # Jacobian truncation needs only a decoder: the VAE's prior draws go through it too.
    monkeypatch.setattr("cilab.gen.jacobian.BURN_IN", 100)
    assert main([*eval_args, "--jacobian-quantile", "0.7"]) == 0
    truncated = json.loads((run / "metrics.json").read_text())
    assert truncated["jacobian_quantile"] == 0.7 and 0.4 < truncated["jacobian_kept"] < 1
    assert truncated["samples"] == 40 and truncated["sample_temperature"] == 1.0
    assert not (run / "sample_grid.png").exists()  # --no-figures: metrics only
    # An autoencoder has no prior to draw noise from: refused before any work.
    ae = tmp_path / "ae"
    assert main(["gen", "train", "--model", "ae", *data, "--out", str(ae), "--epochs", "1",
                 "--batch-size", "32", "--val-size", "32"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["gen", "eval", str(ae), "--jacobian-quantile", "0.5"]) == 2
    assert "--jacobian-quantile needs a generator (dcgan, vae)" in capsys.readouterr().err
    assert main(["gen", "eval", str(ae), "--draws", "3"]) == 2
    assert "a ae run draws none" in capsys.readouterr().err
    assert not (ae / "metrics.json").exists()


def test_compare_refuses_to_mix_gan_and_latent_runs(tmp_path: Path) -> None:
    from cilab.gen.run_eval import compare_runs

    for name, model in (("gan", "dcgan"), ("vae", "vae")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"model": model}))
    with pytest.raises(CilabError, match="compare DCGAN runs with DCGAN runs"):
        compare_runs([tmp_path / "gan", tmp_path / "vae"], tmp_path / "c.png")
    with pytest.raises(CilabError, match=r"gan/metrics\.jsonl: missing"):
        compare_runs([tmp_path / "gan"], tmp_path / "c.png")
