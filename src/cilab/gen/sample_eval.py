"""`cilab gen eval`'s judgement of generated digits, for any generator and for the real test set.

Samples go through the judging classifier (`cilab.gen.classifier`), and `sample_metrics`' pure
functions turn probabilities, features and pixels into the numbers `metrics.json` gets:

- `classifier_is`: Inception Score with the MNIST classifier (whole set, one split); the real
  test set scores ~ 9.9, the maximum is 10.
- `fd`: Fréchet distance of classifier features, samples vs all 60,000 training images.
- `fd_real_floor`: the same for as many real test images: what a perfect generator would get.
- `fd_mean_term`: the part of `fd` that is the features' mean shift (the rest is their spread).
- `fd_by_class`, `fd_real_floor_by_class`: the FD digit by digit (samples the classifier calls
  c against training images labelled c), for the samples and for as many real test images: which
  digits carry the FD (with figures, `fd_by_class.png`).
- `class_entropy`: entropy (nats) of the predicted-label histogram; ln 10 = 2.3026 is perfect.
- `precision`, `recall`: k-NN manifolds (k = 3) of features vs 10,000 training images.
- `nn_train_distance`: mean pixel distance ([0, 1] scale, 784-d) of a sample to its nearest
  training image; far below the real test set's value means memorized training images.
- `draw_seeds`, `fd_draws`, `classifier_is_draws`, `class_entropy_draws`: with `--draws N`, the
  three target metrics of N independent sample sets (the first is the plain keys' set).

Generators are looked up by the run's `config.json` `model` in `GENERATORS`
(`cilab.gen.generators`): `dcgan` samples the generator, `vae` decodes prior draws z ~ N(0, I)
to Bernoulli means. Either can keep only the noise its decoder stretches least
(`cilab.gen.jacobian`), and a DCGAN also brings its discriminator, for rejection sampling
(`cilab.gen.rejection`). A DCGAN trained with a categorical code (`--info-codes`) is also
judged code by code (`cilab.gen.codes`): `code_purity`, `code_classes` and `code_grid.png`
(a conditional one, `--conditional`, label by label, with `label_accuracy`); one
with continuous codes (`--info-continuous`) by `continuous_class_kept` and `continuous_grid.png`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cilab.core.device import resolve_device
from cilab.core.errors import CilabError
from cilab.core.io import read_jsonl
from cilab.core.npz_cache import cached_arrays
from cilab.core.seed import STREAM_EVAL, derived_generator
from cilab.core.stages import stage
from cilab.data.mnist import load_mnist
from cilab.gen.classifier import LoadedClassifier, classifier_dir, classify, load_classifier
from cilab.gen.codes import judge_codes, judge_continuous
from cilab.gen.generators import GENERATORS, RunGenerator, decode_all, run_model
from cilab.gen.jacobian import Decode, check_keep, check_norm, truncated_noise
from cilab.gen.rejection import Critic, Sampler, rejection_sampler
from cilab.gen.sample_metrics import (
    class_entropy,
    class_feature_stats,
    feature_stats,
    frechet_by_class,
    frechet_distance,
    inception_score,
    knn_precision_recall,
    nearest_distances,
)

# A `Sampler`: (`n`, stream, temperature) -> images [n, 1, 28, 28] in [0, 1], from noise or
# latents drawn from the stream and scaled by the temperature (1: the model's own prior).
# A `Critic` (a DCGAN's discriminator): images -> logits, for `rejection_sampler`.

# Sub-streams of STREAM_EVAL (fixed forever: the same seed gives the same samples).
(SAMPLE_STREAM, REAL_SUBSET_STREAM, GRID_STREAM, FLOOR_STREAM, CODE_STREAM,
 CONTINUOUS_STREAM) = range(500, 506)  # fmt: skip
PR_REAL_IMAGES = 10_000  # training images that span the real k-NN manifold
PR_K = 3  # Kynkäänniemi et al.'s default
GRID_IMAGES = 100
EXTREMES, EXTREME_IMAGES = "critic_extremes.png", 50  # rejection sampling's figure
STRETCH_EXTREMES = "jacobian_extremes.png"  # Jacobian truncation's figure
FD_BY_CLASS = "fd_by_class.png"


@dataclass
class RealReference:
    """What every sample set is compared with, computed once per classifier and dataset."""

    classifier_id: str
    train_mu: np.ndarray  # [128] features of all training images
    train_cov: np.ndarray  # [128, 128]
    class_mu: np.ndarray  # [10, 128] the same per training label
    class_cov: np.ndarray  # [10, 128, 128]
    pr_features: np.ndarray  # [10000, 128] features of a fixed subset of training images
    train_pixels: np.ndarray  # [60000, 784] float32 in [0, 1]
    test_images: torch.Tensor  # uint8 [10000, 28, 28]
    test_features: np.ndarray  # [10000, 128]
    test_predicted: np.ndarray  # [10000] the classifier's labels of the test images


def real_reference(
    clf: LoadedClassifier, dataset: str = "mnist", data_dir: str | None = None
) -> RealReference:
    """Classifier features and pixels of the real training and test sets.

    The classifier's part (its features of 70,000 images, most of this function's time) is
    cached in `$CILAB_CACHE/references/<dataset>-<classifier id>-<data hash>.npz`: keyed by the
    weights and the images themselves, so another judge or another copy of the data never
    reads it, and an evaluation with the cache gives the same numbers as one without.
    """
    train, test = load_mnist("train", dataset, data_dir), load_mnist("test", dataset, data_dir)
    path = reference_dir() / f"{dataset}-{clf.id}-{_data_hash(train, test)}.npz"
    judged = cached_arrays(path, lambda: _judge_real(clf, train, test), JUDGED_REAL)
    pixels = train.images.reshape(len(train.images), -1).float().div(255).numpy()
    return RealReference(clf.id, **judged, train_pixels=pixels, test_images=test.images)


JUDGED_REAL = ("train_mu", "train_cov", "class_mu", "class_cov", "pr_features", "test_features",
               "test_predicted")  # fmt: skip


def _judge_real(clf: LoadedClassifier, train: Any, test: Any) -> dict[str, np.ndarray]:
    """What the classifier makes of the real images: the `JUDGED_REAL` arrays."""
    train_probs, train_feats = classify(clf.model, train.images)
    test_probs, test_feats = classify(clf.model, test.images)
    pick = _subset(len(train_feats), PR_REAL_IMAGES, REAL_SUBSET_STREAM)
    mu, cov = feature_stats(train_feats)
    labels = train.labels.numpy()
    class_mu, class_cov = class_feature_stats(train_feats, labels, train_probs.shape[1])
    return {"train_mu": mu, "train_cov": cov, "class_mu": class_mu, "class_cov": class_cov,
            "pr_features": train_feats[pick], "test_features": test_feats,
            "test_predicted": test_probs.argmax(1)}  # fmt: skip


def reference_dir() -> Path:
    """`$CILAB_CACHE/references` (default `~/.cache/cilab/references`)."""
    return classifier_dir().parent / "references"


def _data_hash(*splits: Any) -> str:
    """A short hash of the splits' images and labels: the cache key of what was judged."""
    h = hashlib.blake2b(digest_size=8)
    for split in splits:
        h.update(split.images.numpy().tobytes())
        h.update(split.labels.numpy().tobytes())
    return h.hexdigest()


def sample_metrics(
    images: torch.Tensor, clf: LoadedClassifier, ref: RealReference, k: int = PR_K
) -> dict[str, Any]:
    """The sample-quality metrics (module table) of `images` [N, 1, 28, 28] in [0, 1]."""
    if len(images) < 2:
        raise CilabError("sample metrics need at least 2 images")
    probs, feats = classify(clf.model, images)
    floor_pick = _subset(
        len(ref.test_features), min(len(images), len(ref.test_features)), FLOOR_STREAM
    )
    floor_feats, floor_labels = ref.test_features[floor_pick], ref.test_predicted[floor_pick]
    mu, cov = feature_stats(feats)
    by_class = frechet_by_class(feats, probs.argmax(1), ref.class_mu, ref.class_cov)
    floor_by_class = frechet_by_class(floor_feats, floor_labels, ref.class_mu, ref.class_cov)
    precision, recall = knn_precision_recall(ref.pr_features, feats, k=min(k, len(feats) - 1))
    pixels = images.reshape(len(images), -1).float().cpu().numpy()
    return {
        "classifier_is": inception_score(probs),
        "fd": frechet_distance(mu, cov, ref.train_mu, ref.train_cov),
        "fd_real_floor": frechet_distance(*feature_stats(floor_feats), ref.train_mu, ref.train_cov),
        "fd_mean_term": float(np.sum((mu - ref.train_mu) ** 2)),
        "fd_by_class": _json_floats(by_class),
        "fd_real_floor_by_class": _json_floats(floor_by_class),
        "class_entropy": class_entropy(probs.argmax(1)),
        "precision": precision,
        "recall": recall,
        "nn_train_distance": float(nearest_distances(pixels, ref.train_pixels).mean()),
        "classifier": clf.id,
        "samples": len(images),
        "pr_k": k,
    }


def check_temperature(temperature: float) -> None:
    """Refuse a sampling temperature that is not > 0 (the CLI asks before any slow work)."""
    if not temperature > 0:
        raise CilabError(f"temperature must be > 0, not {temperature}")


def check_draws(draws: int) -> None:
    """Refuse a number of sample draws below 1 (the CLI asks before any slow work)."""
    if draws < 1:
        raise CilabError(f"draws must be >= 1, not {draws}")


def evaluate_samples(
    run_dir: str | Path,
    n_samples: int = 10_000,
    checkpoint: str = "best",
    classifier: str | None = None,
    device: str = "auto",
    seed: int = 0,
    data_dir: str | None = None,
    temperature: float = 1.0,
    figures: bool = True,
    rejection: float | None = None,
    jacobian: float | None = None,
    jacobian_norm: str = "relative",
    weights: str = "average",
    draws: int = 1,
) -> dict[str, Any]:
    """Draw `n_samples` from a run's generator, judge them, merge into RUN_DIR/metrics.json.

    `temperature` scales the noise (DCGAN) or prior draw (VAE): z ~ N(0, T^2 I). Below 1 it
    trades diversity for typical samples, the "truncation trick" of BigGAN in its simplest
    form; the metrics record it as `sample_temperature`. `rejection` q (DCGAN only) keeps the
    samples its discriminator accepts (`cilab.gen.rejection`, cap at the q-quantile of the
    logits), recorded with the acceptance rate. `jacobian` q keeps the noise whose Jacobian norm
    (`jacobian_norm` "relative" to the image's, or "absolute") is below the q-quantile of a
    burn-in's (`cilab.gen.jacobian`), before any rejection. With `figures` also writes
    `sample_grid.png` (the first 100 samples), `fd_by_class.png`, for a DCGAN `curves.png`, with
    `rejection` `critic_extremes.png` and with `jacobian` `jacobian_extremes.png` (the burn-in
    draw's extremes). `weights` picks a DCGAN's generator (`DCGAN.select_weights`), recorded
    as `sample_weights`.

    `draws` > 1 judges as many independent sample sets, seeds `seed`, `seed` + 1, ... (each
    the set `--seed` would draw alone), because an FD on 10,000 samples can move by 2 from
    draw to draw (one DCGAN checkpoint: 4.3-6.2) and a target should hold on every one:
    `draw_seeds` and `fd_draws`, `classifier_is_draws`, `class_entropy_draws` list them, the
    first draw's numbers are the plain keys (and the only ones the code judgement and figures
    use).
    """
    check_temperature(temperature)
    check_draws(draws)
    from cilab.gen.run_eval import update_metrics

    run_dir = Path(run_dir)
    model = run_model(run_dir)
    if model not in GENERATORS:
        raise CilabError(
            f"{run_dir}: a {model!r} run has no sampler; sample metrics need one of "
            f"{', '.join(sorted(GENERATORS))}"
        )
    dev = resolve_device(device)
    with stage(f"loaded {run_dir} ({checkpoint}, {weights})"):
        gen = GENERATORS[model](run_dir, checkpoint, dev, weights)
    cfg, figure_dir = gen.config, run_dir if figures else None
    # All keys always: an evaluation without a filter clears an earlier one's.
    truncated = {"jacobian_quantile": jacobian, "jacobian_norm": None, "jacobian_cap": None,
                 "jacobian_kept": None}  # fmt: skip
    rejected = {"rejection_quantile": rejection, "rejection_cap": None, "acceptance_rate": None}
    if jacobian is not None:
        truncated["jacobian_norm"] = check_norm(jacobian_norm)
    if rejection is not None and gen.critic is None:
        raise CilabError(f"{run_dir}: rejection sampling needs a discriminator that scores "
                         f"images alone; this {model} run has none")  # fmt: skip
    filters = partial(_filtered_sampler, gen, jacobian, jacobian_norm, rejection)
    sampler = filters(truncated, rejected, figure_dir)
    with stage("loaded the judge and the real reference"):
        clf = load_classifier(classifier, cfg.dataset, dev)
        ref = real_reference(clf, cfg.dataset, data_dir or cfg.data_dir)
    with stage(f"drew {n_samples:,} samples"):
        images = sampler(n_samples, _sample_stream(seed, dev), temperature)
    with stage("judged them: IS, FD, precision/recall"):
        judged = sample_metrics(images, clf, ref)
    metrics = {
        **judged,
        "sample_checkpoint": checkpoint,
        "sample_weights": weights,
        "sample_temperature": temperature,
        **truncated,
        **rejected,
        **_more_draws(judged, seed, draws, n_samples, temperature, clf, ref, dev, filters),
    }
    codes = getattr(cfg, "one_hot_codes", 0)  # InfoGAN codes, or a conditional run's labels
    continuous = getattr(cfg, "info_continuous", 0)
    if codes:
        labelled = bool(getattr(cfg, "conditional", False))
        with stage(f"judged the {'class labels' if labelled else 'categorical code'}"):
            code_stream = derived_generator(seed, STREAM_EVAL, CODE_STREAM, device=dev)
            metrics.update(judge_codes(gen, codes, clf, code_stream, figure_dir, labelled))
    if continuous:
        with stage("judged the continuous codes"):
            sweep_stream = derived_generator(seed, STREAM_EVAL, CONTINUOUS_STREAM, device=dev)
            metrics.update(judge_continuous(gen, codes, continuous, clf, sweep_stream, figure_dir))
    if figures:
        with stage("drew the figures"):
            _save_grid(
                images[:GRID_IMAGES], run_dir / "sample_grid.png", f"{model.upper()} samples"
            )
            draw_fd_by_class(metrics, run_dir / FD_BY_CLASS)
            if model == "dcgan":
                draw_gan_curves(run_dir)
    return update_metrics(run_dir, metrics)


DRAWN = ("fd", "classifier_is", "class_entropy")  # the targets' metrics, listed per draw


def _sample_stream(seed: int, device: torch.device) -> torch.Generator:
    """The noise stream of the samples judged for `seed`: one place, so that `--draws`' draw k
    is exactly the set `--seed` k draws alone."""
    return derived_generator(seed, STREAM_EVAL, SAMPLE_STREAM, device=device)


def _more_draws(
    first: dict[str, Any],
    seed: int,
    draws: int,
    n_samples: int,
    temperature: float,
    clf: LoadedClassifier,
    ref: RealReference,
    device: torch.device,
    filters: Callable[[dict[str, Any], dict[str, Any], Path | None], Sampler],
) -> dict[str, Any]:
    """`first`'s target metrics beside those of `draws` - 1 more sample sets (seeds seed + 1,
    ...), as `<metric>_draws` lists; always written, so one draw clears an earlier run's."""
    per_draw = {key: [first[key]] for key in DRAWN}
    for k in range(1, draws):
        sampler = filters({}, {}, None)  # its filter statistics and figures are the first's
        with stage(f"draw {k + 1}/{draws}: {n_samples:,} samples (seed {seed + k}) judged"):
            images = sampler(n_samples, _sample_stream(seed + k, device), temperature)
            judged = sample_metrics(images, clf, ref)
        for key in DRAWN:
            per_draw[key].append(judged[key])
    return {"draw_seeds": list(range(seed, seed + draws))} | {
        f"{key}_draws": values for key, values in per_draw.items()
    }


def _filtered_sampler(
    gen: RunGenerator,
    jacobian: float | None,
    jacobian_norm: str,
    rejection: float | None,
    truncated: dict[str, Any],
    rejected: dict[str, Any],
    figures: Path | None,
) -> Sampler:
    """`gen`'s sampler through the Jacobian truncation and rejection sampling asked for, their
    statistics into `truncated` and `rejected`, their figures (if any) into `figures`."""
    sampler = gen.sampler()
    if jacobian is not None:
        sampler = _jacobian_truncating(gen, jacobian, jacobian_norm, truncated, figures)
    if rejection is not None:
        assert gen.critic is not None  # evaluate_samples refused a run without one
        sampler = _rejecting(sampler, gen.critic, rejection, rejected, figures)
    return sampler


def _rejecting(
    sampler: Sampler, critic: Critic, quantile: float, stats: dict[str, Any], figures: Path | None
) -> Sampler:
    """`sampler` through rejection sampling by `critic` (`rejection_sampler` refuses a bad
    `quantile` before any slow work); with `figures` (the run directory) the burn-in draw's
    extremes go to its critic_extremes.png."""
    hook = None if figures is None else partial(draw_critic_extremes, path=figures / EXTREMES)
    return rejection_sampler(sampler, critic, quantile, stats=stats, on_burn_in=hook)


def _jacobian_truncating(
    gen: RunGenerator, quantile: float, norm: str, stats: dict[str, Any], figures: Path | None
) -> Sampler:
    """`gen`'s samples from the noise its decoder stretches least (`truncated_noise`); with
    `figures` (the run directory) the burn-in draw's extremes go to its jacobian_extremes.png."""
    check_keep(quantile)

    def sample(n: int, stream: torch.Generator, temperature: float) -> torch.Tensor:
        decode = gen.decoder(stream)
        hook = None
        if figures is not None:
            hook = partial(draw_jacobian_extremes, decode=decode, path=figures / STRETCH_EXTREMES)
        z = truncated_noise(
            decode, lambda m: gen.noise(m, stream, temperature), n, quantile, stream, stats,
            on_burn_in=hook, norm=norm, dims=gen.noise_dims,
        )  # fmt: skip
        return decode_all(decode, z)

    return sample


def evaluate_real(
    out: str | Path,
    classifier: str | None = None,
    dataset: str = "mnist",
    data_dir: str | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """The same metrics for the real test set (the reference row), into OUT/metrics.json."""
    from cilab.gen.run_eval import update_metrics

    out = Path(out)
    dev = resolve_device(device)
    clf = load_classifier(classifier, dataset, dev)
    ref = real_reference(clf, dataset, data_dir)
    images = ref.test_images.unsqueeze(1).float().div(255)  # [10000, 1, 28, 28]
    metrics = {**sample_metrics(images, clf, ref), "dataset": dataset, "real": "test set"}
    out.mkdir(parents=True, exist_ok=True)
    pick = _subset(len(images), GRID_IMAGES, GRID_STREAM)
    _save_grid(images[pick], out / "sample_grid.png", f"real {dataset} test images")
    return update_metrics(out, metrics)


def _save_grid(images: torch.Tensor, path: Path, title: str) -> None:
    from cilab.gen import plots

    plots.plot_samples(images, path, nrow=10, title=title)


def draw_gan_curves(run_dir: Path) -> None:
    """`curves.png` of a DCGAN run from its metrics.jsonl (losses; the monitor's FD and IS, with
    the slow weight average's `val_X_slow` drawn as `slow_X` on the same panels)."""
    from cilab.gen import plots

    path = run_dir / "metrics.jsonl"
    records = [
        {_weights_as_split(k): v for k, v in r.items()}
        for r in (read_jsonl(path) if path.exists() else [])
    ]
    if not records:
        return
    present = {k.split("_", 1)[1] for r in records for k in r if k.startswith(("train_", "val_"))}
    order = ("d_loss", "g_loss", "d_real", "d_fake", "fd", "classifier_is", "class_entropy")
    plots.plot_curves(records, run_dir / "curves.png", keys=[f for f in order if f in present])


def _weights_as_split(key: str) -> str:
    """'val_fd_slow' -> 'slow_fd' and 'val_fd_raw' -> 'raw_fd', which the curves draw beside
    'val_fd' (the average's); other keys unchanged."""
    for weights in ("slow", "raw"):
        if key.startswith("val_") and key.endswith(f"_{weights}"):
            return f"{weights}_{key[4 : -len(weights) - 1]}"
    return key


def draw_fd_by_class(metrics: dict[str, Any], path: Path) -> None:
    """`fd_by_class` against `fd_real_floor_by_class` as bars: the digits whose samples are
    furthest from the real ones, each against what as many real test images score."""
    from cilab.gen import plots

    n = metrics["samples"]
    bars = [(f"{n:,} samples", metrics["fd_by_class"]),
            ("as many real test images", metrics["fd_real_floor_by_class"])]  # fmt: skip
    total = f"all classes: FD {metrics['fd']:.3g} (real {metrics['fd_real_floor']:.3g})"
    plots.plot_fd_by_class(bars, path, title=total)


def draw_critic_extremes(images: torch.Tensor, logits: torch.Tensor, path: Path) -> None:
    """The samples the discriminator finds least and most real (lowest and highest logits):
    what rejection sampling throws away first, and what it is surest to keep."""
    low, high = _extremes(logits)
    _draw_panels(
        [("least real to the discriminator", images[low]),
         ("most real to the discriminator", images[high])], path,
    )  # fmt: skip


def draw_jacobian_extremes(
    noise: torch.Tensor, norms: torch.Tensor, decode: Decode, path: Path
) -> None:
    """The samples whose noise the generator stretches least and most (Jacobian norm): what
    Jacobian truncation keeps first, and what it drops first."""
    low, high = _extremes(norms)
    _draw_panels(
        [("smallest Jacobian norm (kept first)", decode_all(decode, noise[low])),
         ("largest Jacobian norm (dropped first)", decode_all(decode, noise[high]))], path,
    )  # fmt: skip


def _extremes(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the `EXTREME_IMAGES` lowest scores (lowest first) and highest (highest
    first), at most half the set each."""
    order = scores.argsort()
    k = min(EXTREME_IMAGES, len(order) // 2)
    return order[:k], order[-k:].flip(0)


def _draw_panels(panels: list[tuple[str, torch.Tensor]], path: Path) -> None:
    from cilab.gen import plots

    plots.plot_image_panels([(t, x[:, 0].cpu().numpy()) for t, x in panels], path)


def draw_gan_comparison(run_dirs: list[Path], out: Path) -> None:
    """DCGAN runs' per-epoch monitor (FD on a log axis, classifier IS, class entropy against
    its 0.99 ln 10 target) overlaid, one line per run: how recipes differ along the way, not
    only at the end."""
    from cilab.gen import plots

    runs = []
    for rd in run_dirs:
        path = rd / "metrics.jsonl"
        if not path.is_file():
            raise CilabError(f"{path}: missing; has {rd} trained an epoch?")
        runs.append((rd.name, read_jsonl(path)))
    keys = ("val_fd", "val_classifier_is", "val_class_entropy")
    target = {"val_class_entropy": (0.99 * math.log(10), "target 0.99 ln 10")}
    plots.plot_run_comparison(runs, out, keys, log_keys=("val_fd",), references=target)


def _json_floats(values: np.ndarray) -> list[float | None]:
    """A float array as a JSON-ready list, NaN (no value) as None."""
    return [None if np.isnan(v) else float(v) for v in values]


def _subset(n: int, k: int, stream: int) -> np.ndarray:
    """A fixed random choice of k of n indices (independent of any run's seed)."""
    return torch.randperm(n, generator=derived_generator(0, STREAM_EVAL, stream))[:k].numpy()
