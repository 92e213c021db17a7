"""The tutorial's DCGAN: shapes, parameter counts, gradients, and train/eval behaviour."""

from __future__ import annotations

import pytest
import torch

from cilab.gen.models.dcgan import (
    DCGAN,
    DCGANConfig,
    Discriminator,
    Generator,
    MinibatchStd,
    to_gan_input,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_are_the_tutorials() -> None:
    g, d = Generator(), Discriminator()
    assert n_params(g) == 2_305_472  # Keras' summary: 2,330,944 with 25,472 BN statistics
    assert n_params(g) + sum(b.numel() for n, b in g.named_buffers() if "running" in n) == (
        2_330_944
    )
    assert n_params(d) == 212_865
    assert all(m.bias is None for m in g.modules() if hasattr(m, "bias") and m.weight.ndim > 1)


def test_d_width_multiplies_the_discriminators_channels() -> None:
    d = Discriminator(DCGANConfig(d_width=2))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 128), (128, 256)]
    # conv1 (1*128*25 + 128) + conv2 (128*256*25 + 256) + head (256*49 + 1)
    assert n_params(d) == 3_328 + 819_456 + 12_545
    assert d(torch.rand(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(ValueError, match="d-width"):
        DCGANConfig(d_width=0)


def test_minibatch_std_channel_by_hand() -> None:
    # 4 images in groups of 2: image i joins group i % 2, so the groups are {0, 2} and {1, 3}.
    x = torch.zeros(4, 2, 1, 1)
    x[0] = torch.tensor([1.0, 3.0]).view(2, 1, 1)  # group 0: features (1, 3) and (5, 3)
    x[2] = torch.tensor([5.0, 3.0]).view(2, 1, 1)  # -> spreads 2 and 0, mean 1
    x[3] = torch.tensor([0.0, 8.0]).view(2, 1, 1)  # group 1: (0, 0) and (0, 8) -> 0 and 4: 2
    out = MinibatchStd(2)(x)
    assert out.shape == (4, 3, 1, 1)
    assert torch.equal(out[:, :2], x)  # the features pass through unchanged
    assert torch.allclose(out[:, 2].flatten(), torch.tensor([1.0, 2.0, 1.0, 2.0]), atol=1e-3)


def test_minibatch_std_uses_the_largest_group_dividing_the_batch() -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 3, 2, 2)
    out = MinibatchStd(4)(x)  # 4 does not divide 6: groups of 3, {0, 2, 4} and {1, 3, 5}
    spread = x.view(3, 2, -1).std(dim=0, unbiased=False).mean(dim=1)  # [2]
    assert torch.allclose(out[:, 3, 0, 0], spread.repeat(3), atol=1e-4)
    assert (out[:, 3] == out[:, 3, :1, :1]).all()  # constant over the feature map
    assert MinibatchStd(4)(x[:1])[:, 3].max() < 1e-3  # one image: no spread to measure
    nhwc = x.contiguous(memory_format=torch.channels_last)  # e.g. after a channels_last conv
    assert torch.allclose(MinibatchStd(4)(nhwc), out)


def test_minibatch_std_lets_a_logit_depend_on_its_group_only() -> None:
    torch.manual_seed(0)
    d = Discriminator(DCGANConfig(minibatch_std=2, dropout=0.0)).eval()
    plain = Discriminator(DCGANConfig(dropout=0.0))
    head_inputs = (d.head.in_features, d.code_head)
    assert head_inputs == (129 * 49, None)
    assert n_params(d) == n_params(plain) + 49  # the head's weights on the new channel
    # The channel sits after the parameterized layers, so they keep their names with it and
    # without it: a plain D has the names it had before the option existed (old checkpoints
    # load), and a channel D differs from it only in the head's width.
    names = {f"{m}.{p}" for m in ("features.0", "features.3", "head") for p in ("weight", "bias")}
    assert set(plain.state_dict()) == set(d.state_dict()) == names
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    y = x.clone()
    y[2] = -y[2]  # image 2 is in image 0's group, not in image 1's or 3's
    a, b = d(x), d(y)
    assert a[0] != b[0] and a[1] == b[1] and a[3] == b[3]
    with pytest.raises(ValueError, match="minibatch-std"):
        DCGANConfig(minibatch_std=1)


def test_generator_shape_range_and_backward() -> None:
    torch.manual_seed(0)
    g = Generator()
    out = g(torch.randn(5, 100))
    assert out.shape == (5, 1, 28, 28)
    assert out.abs().max() <= 1.0  # tanh
    out.square().mean().backward()
    grads = [p.grad for p in g.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() and gr.abs().sum() > 0 for gr in grads)


def test_discriminator_shape_and_backward() -> None:
    torch.manual_seed(0)
    d = Discriminator()
    logits = d(torch.rand(6, 1, 28, 28) * 2 - 1)
    assert logits.shape == (6,)
    logits.sum().backward()
    grads = [p.grad for p in d.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() and gr.abs().sum() > 0 for gr in grads)


def test_dropout_only_in_training_mode() -> None:
    torch.manual_seed(0)
    d, x = Discriminator(), torch.rand(4, 1, 28, 28)
    d.train()
    assert not torch.equal(d(x), d(x))  # fresh masks
    d.eval()
    assert torch.equal(d(x), d(x))
    no_dropout = Discriminator(DCGANConfig(dropout=0.0)).train()
    assert torch.equal(no_dropout(x), no_dropout(x))


def test_sample_is_in_unit_range_eval_mode_and_restores_mode() -> None:
    gan = DCGAN(DCGANConfig(noise_dim=8)).train()
    g = torch.Generator().manual_seed(1)
    images = gan.sample(7, g, batch_size=3)
    assert images.shape == (7, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert gan.generator.training  # restored
    again = gan.sample(7, torch.Generator().manual_seed(1))
    assert torch.allclose(images, again)  # eval-mode BN: batches do not interact


def test_temperature_scales_the_noise_but_not_the_batchnorm_statistics() -> None:
    torch.manual_seed(0)
    gan = DCGAN(DCGANConfig(noise_dim=8))
    cool = gan.sample(5, torch.Generator().manual_seed(3), temperature=0.5)
    g = torch.Generator().manual_seed(3)
    net = gan.sampling_generator(g)  # draws the precise-BN noise first, unscaled
    z = torch.randn((5, 8), generator=g)
    with torch.no_grad():
        torch.testing.assert_close(cool, net(0.5 * z).add(1).div(2))
    plain = gan.sample(5, torch.Generator().manual_seed(3))
    assert not torch.allclose(cool, plain)


def test_to_gan_input_maps_uint8_to_minus_one_one() -> None:
    x = to_gan_input(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert x.shape == (1, 1, 1, 2) and x.tolist() == [[[[-1.0, 1.0]]]]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="dropout"):
        DCGANConfig(dropout=1.0)


def test_precise_bn_uses_the_current_statistics_and_leaves_the_generator_alone() -> None:
    torch.manual_seed(0)
    gen = Generator().train()
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    net = gen.with_precise_bn(torch.Generator().manual_seed(0), batches=4, batch_size=64)
    assert not net.training and gen.training
    for k, v in gen.state_dict().items():
        assert torch.equal(before[k], v), k
    # The dense layer's outputs have variance ~0.016; the stored moving average starts at 1.
    with torch.no_grad():
        h = gen.project[0](torch.randn(4096, 100))
    assert gen.project[1].running_var.mean() == 1.0
    bn = net.project[1]
    assert (bn.running_mean - h.mean(0)).abs().max() < 0.05
    assert ((bn.running_var / h.var(0)) - 1).abs().mean() < 0.15
    # Eval-mode samples with the stale statistics are far darker than with precise ones.
    gan = DCGAN()
    gan.generator.load_state_dict(gen.state_dict())
    stale = gan.sample(64, torch.Generator().manual_seed(1), precise_bn=False)
    precise = gan.sample(64, torch.Generator().manual_seed(1))
    assert precise.std() > 2 * stale.std()


def test_spectral_norm_makes_every_discriminator_layer_one_lipschitz() -> None:
    torch.manual_seed(0)
    plain = Discriminator(DCGANConfig(dropout=0.0))
    d = Discriminator(DCGANConfig(dropout=0.0, spectral_norm=True))
    assert n_params(d) == n_params(plain) == 212_865  # the same weights, normalized
    layers = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert len(layers) == 3 and not any(hasattr(m, "parametrizations") for m in plain.modules())

    def top_singular_values() -> list[float]:
        return [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in layers]

    x = torch.rand(8, 1, 28, 28) * 2 - 1
    d.train()
    for _ in range(30):  # one power iteration per training-mode forward
        d(x)
    assert top_singular_values() == pytest.approx([1.0, 1.0, 1.0], abs=0.01)
    raw = [m.parametrizations.weight.original for m in layers]
    for m, w in zip(layers, raw, strict=True):  # the kernel divided by its exact norm
        sigma = torch.linalg.matrix_norm(w.flatten(1), ord=2)
        torch.testing.assert_close(m.weight, w / sigma, rtol=0.01, atol=1e-4)
    raw_norms = [torch.linalg.matrix_norm(w.flatten(1), ord=2).item() for w in raw]
    assert max(abs(s - 1) for s in raw_norms) > 0.3  # Glorot kernels are not normalized already
    # Eval mode reuses the estimate: the output, and the power-iteration vectors, stay fixed.
    d.eval()
    state = {k: v.clone() for k, v in d.state_dict().items()}
    assert torch.equal(d(x), d(x))
    assert all(torch.equal(state[k], v) for k, v in d.state_dict().items())
    d(x).sum().backward()  # gradients reach the unnormalized weights
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in raw)


def test_latent_is_the_tutorials_noise_without_codes_and_one_hot_codes_with() -> None:
    from cilab.gen.models.dcgan import draw_latent

    plain = draw_latent(6, 8, 0, torch.Generator().manual_seed(0), temperature=0.5)
    torch.testing.assert_close(
        plain, torch.randn(6, 8, generator=torch.Generator().manual_seed(0)) * 0.5
    )
    z = draw_latent(4000, 8, 10, torch.Generator().manual_seed(0), temperature=0.5)
    assert z.shape == (4000, 18)
    torch.testing.assert_close(
        z[:, :8], torch.randn(4000, 8, generator=torch.Generator().manual_seed(0)) * 0.5
    )
    codes = z[:, 8:]
    assert set(codes.unique().tolist()) == {0.0, 1.0} and torch.equal(
        codes.sum(1), torch.ones(4000)
    )
    counts = codes.sum(0)  # uniform: 400 each, binomial sd ~ 19
    assert counts.min() > 320 and counts.max() < 480


def test_continuous_codes_are_uniform_and_sit_between_the_noise_and_the_one_hot() -> None:
    from cilab.gen.models.dcgan import draw_latent

    z = draw_latent(6000, 8, 10, torch.Generator().manual_seed(0), temperature=0.5, continuous=2)
    assert z.shape == (6000, 20)
    torch.testing.assert_close(  # the noise as without codes: drawn first, scaled by T
        z[:, :8], torch.randn(6000, 8, generator=torch.Generator().manual_seed(0)) * 0.5
    )
    u = z[:, 8:10]  # uniform on [-1, 1], untouched by the temperature: mean 0, variance 1/3
    assert u.min() >= -1 and u.max() <= 1 and u.min() < -0.99 and u.max() > 0.99
    assert u.mean(0).abs().max() < 0.03 and (u.var(0) - 1 / 3).abs().max() < 0.02
    assert torch.equal(z[:, 10:].sum(1), torch.ones(6000))  # then the one-hot
    alone = draw_latent(5, 8, 0, torch.Generator().manual_seed(0), continuous=3)
    assert alone.shape == (5, 11) and alone[:, 8:].abs().max() <= 1
    cfg = DCGANConfig(noise_dim=8, codes=10, continuous=2)
    gan = DCGAN(cfg).eval()
    z = gan.generator.latent(4, torch.Generator().manual_seed(0))
    assert z.shape == (4, 20) and gan.generator(z).shape == (4, 1, 28, 28)
    _, guesses = gan.discriminator(gan.generator(z), with_code=True)
    assert guesses.shape == (4, 12)  # 10 code logits, then 2 continuous means
    no_categorical = DCGAN(DCGANConfig(noise_dim=8, continuous=2)).eval()
    _, guesses = no_categorical.discriminator(torch.zeros(3, 1, 28, 28), with_code=True)
    assert guesses.shape == (3, 2)
    with pytest.raises(ValueError, match="info-continuous"):
        DCGANConfig(continuous=-1)


def test_codes_widen_the_generators_input_and_give_the_discriminator_a_code_head() -> None:
    cfg = DCGANConfig(noise_dim=8, codes=10, spectral_norm=True)
    gan = DCGAN(cfg).eval()  # no dropout, fixed SN vectors, stored BN statistics
    z = gan.generator.latent(5, torch.Generator().manual_seed(0))
    assert z.shape == (5, 18) and gan.generator(z).shape == (5, 1, 28, 28)
    logits, code_logits = gan.discriminator(gan.generator(z), with_code=True)
    assert logits.shape == (5,) and code_logits.shape == (5, 10)
    torch.testing.assert_close(gan.discriminator(gan.generator(z)), logits)
    # The code head is a plain classifier: spectral normalization stays on the critic's layers.
    assert not hasattr(gan.discriminator.code_head, "parametrizations")
    assert hasattr(gan.discriminator.head, "parametrizations")
    with pytest.raises(RuntimeError, match="no code head"):
        DCGAN(DCGANConfig(noise_dim=8)).discriminator(gan.generator(z), with_code=True)
    with pytest.raises(ValueError, match="info-codes"):
        DCGANConfig(codes=1)


def test_slow_average_moves_with_its_own_decay_and_is_sampled_on_request() -> None:
    torch.manual_seed(0)
    gan = DCGAN(average=True, slow_average=True)
    before = {k: p.clone() for k, p in gan.generator.named_parameters()}
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)  # the trained weights move away from both averages
    gan.update_average(0.9, 10_000, slow_decay=0.99)  # past the warm-up: the decays themselves
    weights = dict(gan.generator.named_parameters())
    for avg, d in ((gan.generator_avg, 0.9), (gan.generator_avg_slow, 0.99)):
        for name, p in avg.named_parameters():
            torch.testing.assert_close(p, d * before[name] + (1 - d) * weights[name])

    def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
        return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))

    assert same(gan.sampling_generator(precise_bn=False), gan.generator_avg)
    assert same(gan.sampling_generator(precise_bn=False, which="slow"), gan.generator_avg_slow)
    assert same(gan.sampling_generator(precise_bn=False, which="raw"), gan.generator)
    assert not same(gan.generator_avg, gan.generator_avg_slow)
    # select_weights: which generator eval samples from.
    slow_avg = gan.generator_avg_slow
    assert DCGAN(average=True).select_weights("average").generator_avg is not None
    assert gan.select_weights("slow").generator_avg is slow_avg
    assert same(gan.select_weights("raw").sampling_generator(precise_bn=False), gan.generator)
    with pytest.raises(ValueError, match="no slow weight average"):
        DCGAN(average=True).select_weights("slow")
    with pytest.raises(ValueError, match="no slow weight average"):
        DCGAN(average=True).sampling_generator(which="slow")
    with pytest.raises(ValueError, match="unknown weights 'ema'"):
        DCGAN(average=True).sampling_generator(which="ema")
    with pytest.raises(ValueError, match="unknown weights 'best'"):
        DCGAN().select_weights("best")
    with pytest.raises(ValueError, match="needs the first one"):
        DCGAN(slow_average=True)


def test_conditional_discriminator_adds_the_projection_on_the_labels_embedding() -> None:
    """logit(x, y) = head(h) + <embed(y), h>: by hand from the features, for every label; the
    embedding is spectrally normalized with the rest of D, and a label is required."""
    cfg = DCGANConfig(noise_dim=8, codes=10, conditional=True, spectral_norm=True, dropout=0.0)
    d = DCGAN(cfg).discriminator.eval()
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    y = torch.tensor([0, 3, 3, 9, 5, 1])
    h = d.features(x)
    expected = d.head(h).squeeze(1) + (d.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(d(x, labels=y), expected)
    assert not torch.allclose(d(x, labels=y), d(x, labels=(y + 1) % 10))  # the label matters
    assert hasattr(d.embed, "parametrizations")
    assert torch.linalg.matrix_norm(d.embed.weight, ord=2).item() == pytest.approx(1.0, rel=0.2)
    assert d.code_head is None  # the label is given, not guessed
    with pytest.raises(ValueError, match="with their labels"):
        d(x)
    with pytest.raises(ValueError, match="conditional DCGAN needs codes"):
        DCGANConfig(conditional=True)


def test_conditional_generator_draws_labels_from_its_prior_which_checkpoints_carry() -> None:
    cfg = DCGANConfig(noise_dim=8, codes=10, conditional=True)
    gan = DCGAN(cfg, average=True)
    g = gan.generator
    torch.testing.assert_close(g.code_prior, torch.full((10,), 0.1))  # until set from the data
    prior = torch.tensor([0.5, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25])
    gan.set_code_prior(prior)
    assert torch.equal(gan.generator_avg.code_prior, prior)  # the average samples alike
    z = g.latent(8000, torch.Generator().manual_seed(0))
    assert z.shape == (8000, 18) and torch.equal(z[:, 8:].sum(1), torch.ones(8000))
    shares = z[:, 8:].mean(0)  # binomial sd <= 0.006
    torch.testing.assert_close(shares, prior, atol=0.025, rtol=0)
    state = gan.state_dict()
    assert torch.equal(state["generator.code_prior"], prior)
    loaded = DCGAN(cfg, average=True)
    loaded.load_state_dict(state)
    assert torch.equal(loaded.generator.code_prior, prior)
    # Unconditional generators keep no prior: their checkpoints are as before.
    assert not any("code_prior" in k for k in DCGAN(DCGANConfig(codes=10)).state_dict())
    with pytest.raises(RuntimeError, match="only a conditional"):
        DCGAN(DCGANConfig(codes=10)).set_code_prior(prior)
