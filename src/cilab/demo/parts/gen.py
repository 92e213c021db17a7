"""The demo's generative part: AE and VAE with a 2-D latent, their comparison, the DCGAN,
and the judging classifier's sample metrics where one is cached (or the scale trains one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cilab.core.progress import note
from cilab.demo.cache import StepRecord, stable
from cilab.demo.context import Ctx, flags, last_record, pick, raise_if_interrupted

LIKELIHOOD_KEYS = ("test_neg_elbo", "test_recon", "test_kl", "test_nll_iw", "test_nll_iw_sem",
                   "knn_accuracy")  # fmt: skip
SAMPLE_KEYS = ("classifier_is", "fd", "fd_real_floor", "class_entropy", "precision", "recall",
               "nn_train_distance", "samples", "classifier")  # fmt: skip
GAN_TRAIN_KEYS = ("epoch", "train_d_loss", "train_g_loss", "train_d_real", "train_d_fake",
                  "val_fd", "val_classifier_is", "img_per_s")  # fmt: skip


def cached_classifier_id() -> str | None:
    """The id of the MNIST classifier `cilab gen eval` would use, or None when none is cached."""
    from cilab.gen.classifier import NoClassifier, load_classifier

    try:
        return load_classifier(None, "mnist").id
    except NoClassifier:
        return None


def gen(ctx: Ctx) -> dict[str, Any]:
    """AE and VAE (2-D latent) trained, evaluated and compared, then the DCGAN; key metrics."""
    from cilab.core.device import has_fast_bf16, resolve_device
    from cilab.gen.gan_train import GANTrainConfig
    from cilab.gen.train import GenTrainConfig

    cfg, scale, ledger = ctx.cfg, ctx.scale, ctx.ledger
    base = ctx.dir("gen")
    common = {"data_dir": cfg.data_dir, "device": cfg.device}
    metrics: dict[str, Any] = {}

    clf = _classifier(ctx) if scale.classifier is not None else cached_classifier_id()
    if clf is None:
        note(
            "no MNIST classifier cached: the VAE's and DCGAN's sample metrics (IS, FD, "
            "precision/recall) are skipped. `cilab gen classifier` trains one (~10-20 min on 2 "
            "cores); the next `cilab demo` then adds the metrics without retraining anything"
        )

    runs = {}
    for name, opts in (("ae-2d", scale.ae), ("vae-2d", scale.vae)):
        tcfg = GenTrainConfig(**{**opts, **common, "out": str(base / name)})
        what = f"{tcfg.model.upper()}, {tcfg.epochs} epoch{'s' * (tcfg.epochs != 1)}"
        train = _train_step(ctx, name, tcfg, what)
        ev = _likelihood_eval(ctx, name, tcfg, train, clf)
        metrics[name] = {**train.metrics, **ev.metrics}
        runs[name] = ev

    png = base / "ae_vs_vae.png"
    ledger.step(
        "gen", "compare", config={}, deps=[r.config_hash for r in runs.values()],
        action=lambda resume: _compare(base, png), where=png, owns=[png], outputs=[png],
        command=f"cilab gen compare {base / 'ae-2d'} {base / 'vae-2d'} --out {png}",
        describe="AE vs VAE latent spaces",
    )  # fmt: skip

    bf16 = has_fast_bf16(resolve_device(cfg.device))
    gcfg = GANTrainConfig(**{"bf16": bf16, **scale.dcgan, **common, "out": str(base / "dcgan")})
    what = f"DCGAN, {gcfg.epochs} epoch{'s' * (gcfg.epochs != 1)}{', bf16' if gcfg.bf16 else ''}"
    train = _train_step(ctx, "dcgan", gcfg, what)
    ev = _gan_eval(ctx, gcfg, train, clf)
    metrics["dcgan"] = {**train.metrics, **ev.metrics}
    return metrics


def _classifier(ctx: Ctx) -> str:
    """The cached classifier's id; one is trained first when none is cached."""
    from cilab.gen.classifier import ClassifierConfig, classifier_dir, train_classifier

    ccfg = ClassifierConfig(
        **{**ctx.scale.classifier, "data_dir": ctx.cfg.data_dir, "device": ctx.cfg.device}
    )

    def action(resume: bool) -> dict[str, Any]:
        cached = cached_classifier_id()
        if cached is not None:
            print(f"   using the cached classifier {cached}", flush=True)
            return {"id": cached, "trained": False}
        r = train_classifier(ccfg)
        return {"id": r.id, "test_accuracy": r.test_accuracy, "trained": True}

    rec = ctx.ledger.step(
        "gen", "classifier", config=stable(ccfg, drop=("data_dir",)), action=action,
        where=classifier_dir(), outputs=[classifier_dir() / "mnist.json"],
        command=f"cilab gen classifier {flags(ccfg)}".strip(),
        describe=f"the judging MNIST classifier ({ccfg.epochs} epochs, unless one is cached)",
    )  # fmt: skip
    return str(rec.metrics["id"])


def _train_step(ctx: Ctx, name: str, tcfg: Any, what: str) -> StepRecord:
    from cilab.gen.gan_train import train_gan
    from cilab.gen.train import train

    run = Path(tcfg.out)
    fit = train_gan if tcfg.model == "dcgan" else train

    def action(resume: bool) -> dict[str, Any]:
        result = fit(tcfg, resume=resume and (run / "last.pt").exists(), typed={"device"})
        raise_if_interrupted(result.status)
        last = last_record(run)
        keys = GAN_TRAIN_KEYS if tcfg.model == "dcgan" else ("epoch", "img_per_s")
        return {"steps": result.global_step, **pick(last, keys)}

    return ctx.ledger.step(
        "gen", name, config=stable(tcfg, drop=("data_dir",)), action=action, where=run, owns=[run],
        outputs=[run / "last.pt"],
        command=f"cilab gen train {flags(tcfg, always=('model',))}", describe=what,
    )  # fmt: skip


def _likelihood_eval(ctx: Ctx, name: str, tcfg: Any, train: StepRecord, clf: str | None) -> Any:
    from cilab.gen.run_eval import evaluate_run
    from cilab.gen.sample_eval import evaluate_samples

    run = Path(tcfg.out)
    opts = dict(ctx.scale.likelihood_eval)
    samples = ctx.scale.sample_eval["samples"] if tcfg.model == "vae" and clf else 0
    config = {**opts, "samples": samples, "classifier": clf if samples else None}
    dev, data_dir = ctx.cfg.device, ctx.cfg.data_dir

    def action(resume: bool) -> dict[str, Any]:
        m = evaluate_run(run, device=dev, data_dir=data_dir, **opts)
        if samples:
            m = evaluate_samples(run, samples, "best", clf, dev, 0, data_dir)
        return pick(m, LIKELIHOOD_KEYS + (SAMPLE_KEYS if samples else ()))

    cmd = (f"cilab gen eval {run} --iw-samples {opts['iw_samples']} "
           f"--iw-images {opts['iw_images']} --samples {samples}")  # fmt: skip
    return ctx.ledger.step(
        "gen", f"{name}-eval", config=config, deps=[train.config_hash], action=action, where=run,
        outputs=[run / "metrics.json"], command=cmd,
        describe="test-set metrics and figures" + (", sample metrics" if samples else ""),
    )  # fmt: skip


def _gan_eval(ctx: Ctx, gcfg: Any, train: StepRecord, clf: str | None) -> StepRecord:
    from cilab.gen.sample_eval import draw_gan_curves, evaluate_samples

    run = Path(gcfg.out)
    samples = ctx.scale.sample_eval["samples"] if clf else 0
    dev, data_dir = ctx.cfg.device, ctx.cfg.data_dir

    def action(resume: bool) -> dict[str, Any]:
        if not samples:
            draw_gan_curves(run)
            return {"sample_metrics": "skipped: no classifier cached"}
        m = evaluate_samples(run, samples, "best", clf, dev, 0, data_dir)
        return pick(m, SAMPLE_KEYS)

    return ctx.ledger.step(
        "gen", "dcgan-eval", config={"samples": samples, "classifier": clf},
        deps=[train.config_hash], action=action, where=run,
        outputs=[run / ("metrics.json" if samples else "curves.png")],
        command=f"cilab gen eval {run} --samples {samples}" if samples else "",
        describe=f"{samples:,} samples judged by the classifier" if samples else "curves",
    )  # fmt: skip


def _compare(base: Path, png: Path) -> dict[str, Any]:
    from cilab.gen.run_eval import compare_runs

    compare_runs([base / "ae-2d", base / "vae-2d"], png)
    return {}
