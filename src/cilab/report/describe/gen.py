"""The report's view of a generative run (AE, VAE, DCGAN) and of the real test set's
reference row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cilab.report import anchors as A
from cilab.report import commands
from cilab.report.discover import Found
from cilab.report.runfiles import (
    curves_fig,
    device_facts,
    dict_json,
    existing,
    records_of,
    rel_name,
    stamped,
    training_facts,
    training_state,
)
from cilab.report.view import Fig, MetricRow, RunView, fmt, num


def _gen_title(config: dict[str, Any]) -> str:
    model = str(config.get("model", "?"))
    if model == "dcgan":
        codes = config.get("info_codes") or 0
        cont = config.get("info_continuous") or 0
        parts = []
        if codes:
            parts.append(f"{codes}-way code")
        if cont:
            parts.append(f"{cont} continuous")
        code = f" + {' + '.join(parts)} (InfoGAN)" if parts else ""
        if config.get("conditional"):
            code += " + class label (projection D)"
        return f"DCGAN, {config.get('noise_dim', 100)}-D noise{code}"
    grey = {"none": "grey-level targets", "dynamic": "dynamically binarized"}
    targets = grey.get(str(config.get("binarize", "none")), f"{config.get('binarize')} binarized")
    return f"{model.upper()}, {config.get('latent_dim', '?')}-D latent, {targets}"


def _drawn_otherwise(m: dict[str, Any]) -> list[str]:
    """How the judged samples were drawn where not plainly from the model's prior: a score of
    cooled, truncated or rejection-filtered samples is not the generator's own, and must say
    so."""
    parts = []
    weights = m.get("sample_weights", "average")
    if weights != "average":
        parts.append({"slow": "the slow weight average"}.get(weights, "no weight average"))
    t = num(m.get("sample_temperature"))
    if t is not None and t != 1.0:
        parts.append(f"temperature {t:g}")
    q, share = num(m.get("jacobian_quantile")), num(m.get("jacobian_kept"))
    if q is not None:
        kept = f", {share:.0%} kept" if share is not None else ""
        norm = f" ({m['jacobian_norm']} norm)" if m.get("jacobian_norm") else ""
        parts.append(f"Jacobian truncation{norm}, Q = {q:g}{kept}")
    q, rate = num(m.get("rejection_quantile")), num(m.get("acceptance_rate"))
    if q is not None:
        accepted = f", {rate:.0%} accepted" if rate is not None else ""
        parts.append(f"discriminator rejection sampling, Q = {q:g}{accepted}")
    return parts


def _sample_rows(m: dict[str, Any], judged: bool) -> list[MetricRow]:
    """The classifier's judgement of samples; targets only where `judged` (the DCGAN)."""
    rows, drawn = [], _drawn_otherwise(m)
    if "classifier_is" in m:
        v = num(m["classifier_is"])
        count = [f"{m['samples']} samples"] if "samples" in m else []
        rows.append(
            MetricRow.of(
                "classifier Inception Score",
                v,
                A.DCGAN_IS if judged else None,
                A.IS_REFS,
                note="; ".join(count + drawn),
            )
        )
    if "fd" in m:
        v, floor = num(m["fd"]), num(m.get("fd_real_floor"))
        target = (
            A.Target("<=", round(A.FD_FLOOR_FACTOR * floor, 4))
            if judged and floor is not None
            else None
        )
        rows.append(
            MetricRow.of(
                "Fréchet distance (classifier features)",
                v,
                target,
                A.FD_REFS,
                note="; ".join(
                    ([f"target 3 × fd_real_floor ({fmt(floor)})"] if target else []) + drawn
                ),
            )
        )
    if "fd_real_floor" in m and "real" in m:
        v = num(m["fd_real_floor"])
        rows.append(MetricRow.of("fd_real_floor (real vs real)", v))
    if "class_entropy" in m:
        v = num(m["class_entropy"])
        rows.append(
            MetricRow.of(
                "class entropy (nats)",
                v,
                A.CLASS_ENTROPY if judged else None,
                A.CLASS_ENTROPY_REFS,
            )
        )
    for key, label, refs in (
        ("precision", "precision (k-NN manifold)", A.PRECISION_REFS),
        ("recall", "recall (k-NN manifold)", A.RECALL_REFS),
        ("nn_train_distance", "nearest training image distance", A.NN_DISTANCE_REFS),
    ):
        if key in m:
            v = num(m[key])
            rows.append(MetricRow.of(label, v, None, refs))
    if "code_purity" in m:  # a DCGAN with a categorical code (InfoGAN)
        note = f"majorities cover {m.get('code_classes')} classes"
        rows.append(MetricRow.of("code purity (share of a code's samples in one class)",
                                 num(m["code_purity"]), note=note))  # fmt: skip
    if m.get("label_accuracy") is not None:  # a conditional DCGAN: does it draw the digit asked?
        label = "label accuracy (share of samples the judge calls the digit asked for)"
        rows.append(MetricRow.of(label, num(m["label_accuracy"])))
    if "continuous_class_kept" in m:  # continuous codes: do they keep the digit?
        kept = [float(v) for v in m["continuous_class_kept"]]
        note = "per code " + " / ".join(f"{v:.3f}" for v in kept)
        label = "digit kept along a continuous code (least of them)"
        rows.append(MetricRow.of(label, min(kept), note=note))
    return rows


def _likelihood_rows(
    metrics: dict[str, Any], model: str, binarize: str, two_d_grey: bool
) -> list[MetricRow]:
    """An AE's or VAE's test-set rows; anchored to the exercise's numbers only for the 2-D
    grey-level setting they were published for, to the binarized NLLs only when binarized."""
    rows: list[MetricRow] = []
    if model == "vae":
        v = num(metrics.get("test_neg_elbo"))
        rows.append(
            MetricRow.of(
                "test −ELBO (nats)",
                v,
                A.VAE2D_NEG_ELBO if two_d_grey else None,
                A.VAE2D_NEG_ELBO_REFS if two_d_grey else (),
            )
        )
    if "test_recon" in metrics:
        v = num(metrics["test_recon"])
        refs = A.AE2D_RECON_REFS if model == "ae" and two_d_grey else ()
        rows.append(MetricRow.of("test reconstruction (nats)", v, None, refs))
    if model == "vae":
        v = num(metrics.get("test_kl"))
        rows.append(MetricRow.of("test KL (nats)", v))
    if "test_nll_iw" in metrics:
        v, sem = num(metrics["test_nll_iw"]), num(metrics.get("test_nll_iw_sem"))
        k, n = metrics.get("iw_samples"), metrics.get("iw_images")
        target, refs, note = None, A.VAE_GREY_NLL_REFS, f"K = {k}, {n} test images"
        if binarize == "dynamic":
            target, refs = A.VAE_BINARY_NLL, A.VAE_BINARY_NLL_REFS
            if k != 5000 or n != 10_000:
                note += "; the anchors use K = 5000 on all 10,000 images"
        elif binarize == "static":
            refs = A.VAE_STATIC_NLL_REFS
        text = fmt(v) + (f" ± {fmt(sem)}" if sem is not None else "")
        rows.append(MetricRow("importance-weighted NLL (nats)", v, text, target, refs, note=note))
    if "knn_accuracy" in metrics:
        v = num(metrics["knn_accuracy"])
        refs = (A.KNN_REFS_VAE if model == "vae" else A.KNN_REFS_AE) if two_d_grey else ()
        rows.append(MetricRow.of("5-NN accuracy of latent codes", v, None, refs))
    return rows


#: The figures a generative run may hold, in the order the report shows them.
GEN_FIGURES = (
    ("latent_scatter.png", "latent codes of the test set, coloured by digit"),
    ("manifold.png", "decoded grid over the 2-D latent space (the manifold)"),
    ("samples.png", "samples decoded from prior draws z ~ N(0, I)"),
    ("reconstructions.png", "test digits (top) and their reconstructions"),
    ("sample_grid.png", "100 of the samples the classifier judged"),
    ("critic_extremes.png", "the samples its discriminator finds least and most real"),
    ("jacobian_extremes.png", "the samples its generator stretches least and most"),
    ("fd_by_class.png", "the Fréchet distance digit by digit, against the real floor"),
    ("code_grid.png", "ten samples of each value of its categorical code, a row each"),
    ("continuous_grid.png", "ten latents swept along each continuous code, -2 to 2"),
    ("progress.gif", "the 16 fixed-noise samples, epoch by epoch (animated)"),
)


def describe_gen(found: Found, root: Path) -> RunView:
    """An AE, VAE or DCGAN run: test metrics once evaluated, else the last epoch's (provisional)."""
    run = found.path
    config = dict_json(run / "config.json")
    records = records_of(run / "metrics.jsonl")
    metrics = dict_json(run / "metrics.json")
    model = str(config.get("model"))
    state, state_text = training_state(run, records, config.get("epochs"))
    if metrics:
        state_text += ", evaluated"
    view = RunView(found, rel_name(run, root), _gen_title(config), state, state_text, config=config)
    binarize = str(config.get("binarize", "none"))
    two_d_grey = config.get("latent_dim") == 2 and binarize == "none"
    if metrics:
        view.metrics += _likelihood_rows(metrics, model, binarize, two_d_grey)
        view.metrics += _sample_rows(metrics, judged=model == "dcgan")
    elif records:
        view.metrics += _provisional_gen(model, records[-1], two_d_grey, binarize)
        view.notes.append(
            f"Not evaluated yet: the numbers are the last epoch's validation values. "
            f"Test metrics and figures: `cilab gen eval {config.get('out', view.name)}`."
        )
    view.figures = existing(run, GEN_FIGURES)
    epochs = sorted((run / "samples").glob("epoch_*.png")) if (run / "samples").is_dir() else []
    if epochs:
        n = epochs[-1].stem.split("_")[-1].lstrip("0") or "0"
        view.figures.append(Fig(f"fixed-noise samples after epoch {n}", epochs[-1]))
    order = ("d_loss", "g_loss", "d_real", "d_fake", "fd", "classifier_is", "class_entropy")
    view.curves = curves_fig(run, records, "training curves", order=order)
    view.commands.append(commands.gen_train(config) if config else "")
    if metrics:
        view.commands.append(commands.gen_eval(str(config.get("out", view.name)), metrics))
    view.facts = training_facts(run, records, config.get("epochs")) + device_facts(config)
    if metrics:
        view.facts += _judged_facts(run, metrics)
    return view


def _provisional_gen(
    model: str, last: dict[str, Any], two_d_grey: bool, binarize: str
) -> list[MetricRow]:
    epoch = last.get("epoch", "?")
    note = f"validation, epoch {epoch}"
    rows = []
    if model == "vae" and "val_neg_elbo" in last:
        v = num(last["val_neg_elbo"])
        refs: Sequence[A.Ref] = A.VAE2D_NEG_ELBO_REFS if two_d_grey else ()
        if binarize == "dynamic":  # −ELBO bounds the NLL from above; the target is the IW NLL's
            refs = A.VAE_BINARY_NLL_REFS
        rows.append(
            MetricRow.of(
                "validation −ELBO (nats)",
                v,
                A.VAE2D_NEG_ELBO if two_d_grey else None,
                refs,
                pending=True,
                note=note + ("; an upper bound on the NLL" if binarize == "dynamic" else ""),
            )
        )
    for key, label in (("val_recon", "validation reconstruction"), ("val_kl", "validation KL")):
        if key in last and model != "dcgan":
            rows.append(MetricRow(label, num(last[key]), fmt(last[key]), note=note))
    if model == "dcgan":
        note = f"monitor samples, epoch {epoch}"
        for key, label, target, refs in (
            ("val_classifier_is", "classifier Inception Score", A.DCGAN_IS, A.IS_REFS),
            ("val_fd", "Fréchet distance (classifier features)", None, A.FD_REFS),
            ("val_class_entropy", "class entropy (nats)", A.CLASS_ENTROPY, A.CLASS_ENTROPY_REFS),
            ("train_d_loss", "discriminator loss", None, ()),
            ("train_g_loss", "generator loss", None, ()),
        ):
            if key in last:
                v = num(last[key])
                rows.append(MetricRow.of(label, v, target, refs, pending=True, note=note))
    return rows


def describe_real(found: Found, root: Path) -> RunView:
    """The real test set (`gen eval --real`): the reference row for the sample metrics."""
    run = found.path
    metrics = dict_json(run / "metrics.json")
    dataset = str(metrics.get("dataset", "mnist"))
    view = RunView(
        found,
        rel_name(run, root),
        f"real {dataset} test set (the reference row)",
        "done",
        "evaluated",
    )
    view.metrics = _sample_rows(metrics, judged=False)
    view.figures = existing(run, (("sample_grid.png", f"real {dataset} test images"),))
    view.commands.append(commands.gen_eval_real(str(run), metrics))
    view.config, view.config_name = metrics, "metrics.json"
    view.facts += _judged_facts(run, metrics)
    return view


def _judged_facts(run: Path, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Which classifier judged the samples (its weights' id) and when: numbers from another
    judge are not comparable."""
    judge = [("judging classifier", str(metrics["classifier"]))] if "classifier" in metrics else []
    return judge + stamped("evaluated", run / "metrics.json")
