"""Read one found run and say what the report shows of it: metrics against anchors, tables,
figures, training curves, config, the reproducing command, and machine/time facts.

Everything is read defensively: a run still being written (a torn metrics.jsonl line, a file
replaced mid-read, no metrics.json yet) is reported as far as it goes, never an error.
"""

from __future__ import annotations

import csv
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

from cilab.core.io import read_jsonl
from cilab.report import anchors as A
from cilab.report import commands
from cilab.report.discover import Found, read_json_safe

RECENT_S = 30 * 60  # a run whose log changed this recently is "running"
CURVE_SKIP = {"time_s", "img_per_s", "lr", "seconds"}


@dataclass
class Fig:
    """An image to show: a file of the run, or (`records`) a curve figure the report draws."""

    caption: str
    path: Path | None = None
    records: list[dict[str, Any]] | None = None
    keys: list[str] | None = None
    wide: bool = False
    thumb: int | None = None  # longest side in pixels for a downscaled copy
    src: str | None = None  # set by the builder: the copy's path relative to index.html


@dataclass
class MetricRow:
    label: str
    value: float | None
    text: str
    target: A.Target | None = None
    refs: Sequence[A.Ref] = ()
    pending: bool = False  # a provisional number (validation, unfinished run): not judged
    note: str = ""

    @classmethod
    def of(
        cls,
        label: str,
        value: float | None,
        target: A.Target | None = None,
        refs: Sequence[A.Ref] = (),
        pending: bool = False,
        note: str = "",
    ) -> MetricRow:
        """A row whose text is the value as `fmt` shows it (most rows)."""
        return cls(label, value, fmt(value), target, refs, pending, note)

    @property
    def status(self) -> str:
        if self.value is None or not math.isfinite(self.value):
            return "missing" if self.target else "none"
        if self.target is None:
            return "none"
        if self.pending:
            return "pending"
        return "met" if self.target.met(self.value) else "not-met"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class RunView:
    found: Found
    name: str  # path relative to RUNS_DIR
    title: str
    state: str  # done / running / stopped / partial
    state_text: str
    metrics: list[MetricRow] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Fig] = field(default_factory=list)
    curves: list[Fig] = field(default_factory=list)
    config: Any = None
    config_name: str = "config.json"
    commands: list[str] = field(default_factory=list)
    commands_source: str = "rebuilt from the run's saved config and outputs (non-default options)"
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def part(self) -> str:
        return self.found.part

    @property
    def anchor_id(self) -> str:
        return "run-" + re.sub(r"[^A-Za-z0-9_-]+", "-", self.name).strip("-").lower()


# -- small helpers -------------------------------------------------------------------------------
def num(v: Any) -> float | None:
    """`v` as a float when it is a JSON number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def fmt(v: Any) -> str:
    """A number as a table shows it: integers whole, floats to 4 decimals (fewer when large)."""
    x = num(v)
    if x is None:
        return "–" if v is None else str(v)
    if not math.isfinite(x):
        return str(x)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.3e}"
    if abs(x) >= 1000:
        return f"{x:,.1f}"
    return f"{x:.2f}" if abs(x) >= 100 else f"{x:.4f}"


def fmt_pm(pair: Any, digits: int = 4) -> tuple[float | None, str]:
    """(mean, 'mean ± std') of a [mean, std] pair or {'mean', 'std'} dict."""
    if isinstance(pair, dict):
        pair = [pair.get("mean"), pair.get("std")]
    if isinstance(pair, list | tuple) and len(pair) == 2 and num(pair[0]) is not None:
        m, s = num(pair[0]), num(pair[1])
        text = f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if s is not None else "")
        return m, text
    return None, fmt(pair)


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def when(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return None


def age_s(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def records_of(path: Path) -> list[dict[str, Any]]:
    try:
        return [r for r in read_jsonl(path) if isinstance(r, dict)] if path.is_file() else []
    except (OSError, UnicodeDecodeError):
        return []


def dict_json(path: Path) -> dict[str, Any]:
    data = read_json_safe(path)
    return data if isinstance(data, dict) else {}


def read_csv(path: Path, limit: int = 200) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return [], []
    return (rows[0], rows[1 : limit + 1]) if rows else ([], [])


def existing(run: Path, items: Iterable[tuple[str, str]]) -> list[Fig]:
    return [Fig(caption, run / name) for name, caption in items if (run / name).is_file()]


def curve_keys(records: list[dict[str, Any]], order: Sequence[str] = ()) -> list[str] | None:
    """Metric families worth a panel (not times or rates); `order` first when present."""
    fams: list[str] = []
    for r in records:
        if "epoch" not in r:
            continue
        for k, v in r.items():
            if k in ("epoch", "step", "global_step") or isinstance(v, bool):
                continue
            if not isinstance(v, int | float):
                continue
            fam = re.sub(r"^(train|val|test)_", "", k)
            if fam not in CURVE_SKIP and fam not in fams:
                fams.append(fam)
    if not fams:
        return None
    first = [f for f in order if f in fams]
    return (
        first + [f for f in fams if f not in first]
        if first
        else sorted(fams, key=lambda f: f != "loss")
    )


def curves_fig(run: Path, records: list[dict[str, Any]], caption: str, **kw: Any) -> list[Fig]:
    """The run's curves.png when it is up to date, else a figure drawn from the records."""
    png, log = run / "curves.png", run / "metrics.jsonl"
    try:
        fresh = png.is_file() and (not log.is_file() or png.stat().st_mtime >= log.stat().st_mtime)
    except OSError:
        fresh = False
    if fresh:
        return [Fig(caption, png, wide=True)]
    keys = curve_keys(records, kw.get("order", ()))
    if keys is None:
        return []
    return [Fig(caption + " (drawn by the report from metrics.jsonl)", None, records, keys, True)]


def training_facts(run: Path, records: list[dict[str, Any]], total: Any) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    epochs = [r["epoch"] for r in records if isinstance(r.get("epoch"), int | float)]
    if epochs:
        facts.append(("epochs", f"{int(max(epochs))} of {total}" if total else str(max(epochs))))
    steps = [r["step"] for r in records if isinstance(r.get("step"), int | float)]
    if steps:
        facts.append(("optimizer steps", f"{int(max(steps)):,}"))
    times = [r["time_s"] for r in records if isinstance(r.get("time_s"), int | float)]
    if times:
        facts.append(("training time (sum of epochs)", duration(sum(times))))
    rates = [r["img_per_s"] for r in records if isinstance(r.get("img_per_s"), int | float)]
    if rates:
        facts.append(
            (
                "images/s (median, min–max)",
                f"{median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})",
            )
        )
    started = when(run / "config.json")
    if started:
        facts.append(("config written", started))
    updated = when(run / "metrics.jsonl")
    if updated:
        facts.append(("log last updated", updated))
    return facts


def training_state(run: Path, records: list[dict[str, Any]], total: Any) -> tuple[str, str]:
    epochs = [r["epoch"] for r in records if isinstance(r.get("epoch"), int | float)]
    done = int(max(epochs)) if epochs else 0
    if isinstance(total, int) and done >= total:
        return "done", f"trained ({done} epochs)"
    age = age_s(run / "metrics.jsonl")
    if age is None:
        age = age_s(run / "config.json")
    of = f" {total}" if total else ""
    if age is not None and age < RECENT_S:
        return "running", f"training: epoch {done} of{of} done"
    return "stopped", f"stopped after epoch {done} of{of}"


def device_facts(config: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if "device" in config:
        dev = str(config["device"])
        if config.get("bf16"):
            dev += ", bf16 autocast"
        if config.get("threads"):
            dev += f", {config['threads']} threads"
        out.append(("device (as configured)", dev))
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return str(path)
    return str(rel) if str(rel) != "." else path.name or str(path)


# -- generative models -------------------------------------------------------------------------
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
        return f"DCGAN, {config.get('noise_dim', 100)}-D noise{code}"
    grey = {"none": "grey-level targets", "dynamic": "dynamically binarized"}
    targets = grey.get(str(config.get("binarize", "none")), f"{config.get('binarize')} binarized")
    return f"{model.upper()}, {config.get('latent_dim', '?')}-D latent, {targets}"


def _drawn_otherwise(m: dict[str, Any]) -> list[str]:
    """How the judged samples were drawn where not plainly from the model's prior: a score of
    cooled, truncated or rejection-filtered samples is not the generator's own, and must say
    so."""
    parts = []
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
    if "continuous_class_kept" in m:  # continuous codes: do they keep the digit?
        kept = [float(v) for v in m["continuous_class_kept"]]
        note = "per code " + " / ".join(f"{v:.3f}" for v in kept)
        label = "digit kept along a continuous code (least of them)"
        rows.append(MetricRow.of(label, min(kept), note=note))
    return rows


def describe_gen(found: Found, root: Path) -> RunView:
    run = found.path
    config = dict_json(run / "config.json")
    records = records_of(run / "metrics.jsonl")
    metrics = dict_json(run / "metrics.json")
    model = str(config.get("model"))
    state, state_text = training_state(run, records, config.get("epochs"))
    if metrics:
        state_text += ", evaluated"
    view = RunView(found, _rel(run, root), _gen_title(config), state, state_text, config=config)
    binarize = str(config.get("binarize", "none"))
    two_d_grey = config.get("latent_dim") == 2 and binarize == "none"
    if metrics:
        if model == "vae":
            v = num(metrics.get("test_neg_elbo"))
            view.metrics.append(
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
            view.metrics.append(MetricRow.of("test reconstruction (nats)", v, None, refs))
        if model == "vae":
            v = num(metrics.get("test_kl"))
            view.metrics.append(MetricRow.of("test KL (nats)", v))
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
            view.metrics.append(
                MetricRow("importance-weighted NLL (nats)", v, text, target, refs, note=note)
            )
        if "knn_accuracy" in metrics:
            v = num(metrics["knn_accuracy"])
            refs = (A.KNN_REFS_VAE if model == "vae" else A.KNN_REFS_AE) if two_d_grey else ()
            view.metrics.append(MetricRow.of("5-NN accuracy of latent codes", v, None, refs))
        view.metrics += _sample_rows(metrics, judged=model == "dcgan")
    elif records:
        view.metrics += _provisional_gen(model, records[-1], two_d_grey, binarize)
        view.notes.append(
            f"Not evaluated yet: the numbers are the last epoch's validation values. "
            f"Test metrics and figures: `cilab gen eval {config.get('out', view.name)}`."
        )
    view.figures = existing(
        run,
        (
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
        ),
    )
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
        if "classifier" in metrics:
            view.facts.append(("judging classifier", str(metrics["classifier"])))
        evaluated = when(run / "metrics.json")
        if evaluated:
            view.facts.append(("evaluated", evaluated))
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
    run = found.path
    metrics = dict_json(run / "metrics.json")
    dataset = str(metrics.get("dataset", "mnist"))
    view = RunView(
        found, _rel(run, root), f"real {dataset} test set (the reference row)", "done", "evaluated"
    )
    view.metrics = _sample_rows(metrics, judged=False)
    view.figures = existing(run, (("sample_grid.png", f"real {dataset} test images"),))
    view.commands.append(commands.gen_eval_real(str(run), metrics))
    view.config, view.config_name = metrics, "metrics.json"
    if "classifier" in metrics:
        view.facts.append(("judging classifier", str(metrics["classifier"])))
    evaluated = when(run / "metrics.json")
    if evaluated:
        view.facts.append(("evaluated", evaluated))
    return view


# -- road segmentation -------------------------------------------------------------------------
ROAD_KEYS = (
    ("patch_accuracy", "patch accuracy", A.ROADS_ACCURACY, A.ROADS_ACCURACY_REFS),
    ("patch_f1", "road-patch F1", A.ROADS_F1, A.ROADS_F1_REFS),
    ("pixel_f1", "pixel F1", None, ()),
    ("pixel_iou", "pixel IoU", None, ()),
)


def _fold_dirs(run: Path) -> list[Path]:
    folds = [p for p in run.glob("fold_*") if p.is_dir() and re.fullmatch(r"fold_\d+", p.name)]
    return sorted(folds, key=lambda p: int(p.name.split("_")[1]))


def describe_roads_cv(found: Found, root: Path) -> RunView:
    run = found.path
    config = dict_json(run / "config.json")
    cv = dict_json(run / "cv.json")
    folds = _fold_dirs(run)
    n_folds = config.get("train_folds") or config.get("folds") or len(folds)
    finished = [f for f in folds if (f / "fold.json").is_file()]
    model = str(config.get("model", cv.get("model", "?")))
    title = f"{model}, {config.get('folds', cv.get('folds', '?'))}-fold cross-validation"
    if cv:
        state, text = "done", f"cross-validated over {cv.get('trained_folds', len(finished))} folds"
    else:
        logs = [f / "metrics.jsonl" for f in folds] + [run / "config.json"]
        ages = [a for a in (age_s(p) for p in logs) if a is not None]
        state = "running" if ages and min(ages) < RECENT_S else "stopped"
        text = f"{'training' if state == 'running' else 'stopped'}: {len(finished)} of {n_folds} "
        text += "folds finished"
    view = RunView(found, _rel(run, root), title, state, text, config=config)
    if cv:
        for key, label, target, refs in ROAD_KEYS:
            v, shown = fmt_pm(cv.get("mean_std", {}).get(key))
            view.metrics.append(
                MetricRow(label, v, shown, target, refs, note="mean ± std over folds")
            )
        bg = cv.get("reference_all_background", {})
        if "patch_accuracy" in bg:
            v = num(bg["patch_accuracy"])
            view.metrics.append(MetricRow.of("all-background patch accuracy (reference)", v))
        per_fold = [p for p in cv.get("per_fold", []) if isinstance(p, dict)]
        if per_fold:
            view.tables.append(
                Table(
                    "per fold",
                    ["fold", "threshold", "images", *(lab for _, lab, _, _ in ROAD_KEYS), "train"],
                    [
                        [
                            str(p.get("fold")),
                            fmt(p.get("threshold")),
                            str(p.get("n_images")),
                            *(fmt(p.get(k)) for k, _, _, _ in ROAD_KEYS),
                            duration(num(p.get("train_seconds"))),
                        ]
                        for p in per_fold
                    ],
                    note=str(cv.get("threshold_note", "")),
                )
            )
    else:
        view.metrics += _provisional_roads(folds)
        if view.metrics:
            view.notes.append(
                "Cross-validation not finished: the numbers are the folds' latest validation "
                "values at the default threshold; cv.json (tuned thresholds, mean ± std) comes "
                "when every fold is done."
            )
    view.tables.append(_fold_progress(folds, config.get("epochs")))
    for f in folds:
        recs = records_of(f / "metrics.jsonl")
        if recs:
            view.curves += curves_fig(f, recs, f"{f.name}: training curves")
    view.commands.append(commands.roads_train(config) if config else "")
    if cv:
        view.facts.append(
            ("training time (all folds)", duration(num(cv.get("train_seconds_total"))))
        )
        view.facts.append(("deployed patch threshold", fmt(cv.get("deployed_threshold"))))
        view.facts.append(("images", str(cv.get("n_images", "?"))))
    view.facts += device_facts(config)
    for label, path in (
        ("config written", run / "config.json"),
        ("cv.json written", run / "cv.json"),
    ):
        stamp = when(path)
        if stamp:
            view.facts.append((label, stamp))
    return view


def _provisional_roads(folds: list[Path]) -> list[MetricRow]:
    values: dict[str, list[float]] = {"val_patch_accuracy": [], "val_patch_f1": []}
    epochs = []
    for f in folds:
        recs = [r for r in records_of(f / "metrics.jsonl") if "val_patch_accuracy" in r]
        if recs:
            epochs.append(f"{f.name} epoch {recs[-1].get('epoch')}")
            for k in values:
                if num(recs[-1].get(k)) is not None:
                    values[k].append(float(recs[-1][k]))
    rows = []
    for vals, (_, label, target, refs) in zip(values.values(), ROAD_KEYS, strict=False):
        if vals:
            v = sum(vals) / len(vals)
            rows.append(
                MetricRow.of(
                    f"validation {label}",
                    v,
                    target,
                    refs,
                    pending=True,
                    note="; ".join(epochs),
                )
            )
    return rows


def _fold_progress(folds: list[Path], total: Any) -> Table:
    rows = []
    for f in folds:
        recs = records_of(f / "metrics.jsonl")
        info = dict_json(f / "fold.json")
        epochs = [r["epoch"] for r in recs if isinstance(r.get("epoch"), int | float)]
        done = int(max(epochs)) if epochs else 0
        val = [r for r in recs if "val_patch_accuracy" in r]
        secs = num(info.get("train_seconds"))
        if secs is None:
            secs = sum(float(r.get("time_s", 0.0)) for r in recs)
        state = "finished" if info else ("training" if recs else "started")
        rows.append(
            [
                f.name,
                state,
                ("–" if not recs else f"{done} of {total}" if total else str(done)),
                fmt(val[-1]["val_patch_accuracy"]) if val else "–",
                fmt(val[-1].get("val_patch_f1")) if val else "–",
                duration(secs),
            ]
        )
    return Table(
        "folds", ["fold", "state", "epochs", "val patch acc.", "val patch F1", "train"], rows
    )


def describe_roads_predict(found: Found, root: Path) -> RunView:
    run = found.path
    info = dict_json(run / "predict.json")
    metrics = dict_json(run / "metrics.json")
    title = f"predictions of {info.get('model', '?')} for {info.get('n_images', '?')} images"
    view = RunView(
        found, _rel(run, root), title, "done", "predicted" + (", evaluated" if metrics else "")
    )
    overall = metrics.get("overall", {}) if isinstance(metrics.get("overall"), dict) else {}
    for key, label, _, refs in ROAD_KEYS:
        if key in overall:
            v = num(overall[key])
            view.metrics.append(
                MetricRow.of(label, v, None, refs, note="all images' patches pooled")
            )
    if metrics and not overall:
        view.notes.append("metrics.json has no overall metrics")
    montage = run / "overlay" / "montage.png"
    if montage.is_file():
        view.figures.append(
            Fig("overlays: predicted road red, ground truth outlined yellow", montage, wide=True)
        )
    else:
        overlays = sorted((run / "overlay").glob("*.png")) if (run / "overlay").is_dir() else []
        view.figures += [Fig(f"overlay {p.stem}", p, thumb=600) for p in overlays[:4]]
    view.config, view.config_name = info, "predict.json"
    view.commands.append(commands.roads_predict(str(run), info))
    if metrics:
        view.commands.append(commands.roads_eval(str(run), metrics))
    if "seconds" in info:
        view.facts.append(("prediction time", duration(num(info["seconds"]))))
    for key, label in (
        ("tta", "test-time augmentation"),
        ("tta_zoom", "multi-scale TTA zoom"),
        ("patch_threshold", "patch threshold"),
        ("models", "models"),
    ):
        if key in info:
            view.facts.append(
                (label, fmt(info[key]) if num(info[key]) is not None else str(info[key]))
            )
    stamp = when(run / "predict.json")
    if stamp:
        view.facts.append(("predicted", stamp))
    return view


# -- cosmology ---------------------------------------------------------------------------------
def _results_table(run: Path, title: str) -> Table | None:
    header, rows = read_csv(run / "results.csv")
    if not header:
        return None
    return Table(title, header, [[fmt(_maybe_float(c)) for c in r] for r in rows])


def _maybe_float(s: str) -> Any:
    try:
        return int(s) if re.fullmatch(r"-?\d+", s) else float(s)
    except ValueError:
        return s


def describe_cosmo_model(found: Found, root: Path) -> RunView:
    run = found.path
    task = found.kind.split("-", 1)[1]
    config = dict_json(run / "config.json")
    metrics = dict_json(run / "metrics.json")
    results = metrics.get("results", {}) if isinstance(metrics.get("results"), dict) else {}
    best = metrics.get("best")
    title = (
        "real vs not-real classification" if task == "classify" else "similarity-score regression"
    )
    state, text = (
        ("done", str(metrics.get("cv", "finished")))
        if metrics
        else ("partial", "no metrics.json yet")
    )
    view = RunView(found, _rel(run, root), title, state, text, config=config)
    if task == "classify" and best in results:
        base = results.get("baseline", {})
        base_auroc = num((base.get("auroc") or [None])[0])
        target = A.Target(">", base_auroc, "exercise baseline, same CV") if base_auroc else None
        v, shown = fmt_pm(results[best].get("auroc"))
        view.metrics.append(
            MetricRow(
                f"AUROC, best feature model ({best})",
                v,
                shown,
                target,
                A.COSMO_CLASSIFY_REFS,
                note="mean ± std over CV folds",
            )
        )
        for key, label in (("auprc", "AUPRC"), ("accuracy", "accuracy")):
            v, shown = fmt_pm(results[best].get(key))
            view.metrics.append(MetricRow(f"{label}, {best}", v, shown))
        if base:
            v, shown = fmt_pm(base.get("auroc"))
            view.metrics.append(MetricRow("AUROC, exercise baseline", v, shown))
        if "cnn" in results:
            v, shown = fmt_pm(results["cnn"].get("auroc"))
            view.metrics.append(MetricRow("AUROC, CNN", v, shown, target))
    elif task == "regress" and best in results:
        v, shown = fmt_pm(results[best].get("cv_mae"))
        const = num((results.get("constant", {}).get("cv_mae") or [None])[0])
        note = f"{const / v:.1f}× better than the constant model" if const and v else ""
        view.metrics.append(
            MetricRow(
                f"CV MAE, best model ({best})", v, shown, None, A.COSMO_REGRESS_REFS, note=note
            )
        )
        if const is not None:
            view.metrics.append(MetricRow.of("CV MAE, constant (median) model", const))
        if "query_mae" in results[best]:
            v = num(results[best]["query_mae"])
            view.metrics.append(MetricRow.of(f"query MAE ({best}, simulated truth)", v))
    table = _results_table(run, "all models (results.csv)")
    if table:
        table.note = str(metrics.get("cv", ""))
        view.tables.append(table)
    header, rows = read_csv(run / "families.csv")
    if header:
        view.tables.append(Table(f"{best} on one feature family at a time", header, rows))
    view.figures = existing(
        run,
        (
            ("roc_pr.png", "ROC and precision-recall curves (out-of-fold, first repeat)"),
            ("scatter.png", "out-of-fold predictions against the true scores"),
            ("importance.png", "feature-family importance of the best model (permutation)"),
        ),
    )
    view.commands.append(commands.cosmo_model_run(task, config) if config else "")
    if "seconds" in metrics:
        view.facts.append(("wall time", duration(num(metrics["seconds"]))))
    feats = metrics.get("features")
    if isinstance(feats, dict) and "images_per_s" in feats:
        view.facts.append(
            (
                "feature extraction",
                f"{feats.get('images')} images, "
                f"{feats.get('images_per_s')} images/s, {feats.get('features')} "
                "features",
            )
        )
    if isinstance(metrics.get("cnn"), dict):
        c = metrics["cnn"]
        view.facts.append(
            (
                "CNN",
                f"{c.get('splits')} splits, {fmt(c.get('split_seconds'))} s "
                f"each, {c.get('epochs')} epochs",
            )
        )
    if "workers" in config:
        view.facts.append(("workers", str(config["workers"])))
    stamp = when(run / "metrics.json")
    if stamp:
        view.facts.append(("finished", stamp))
    return view


def describe_cosmo_sim(found: Found, root: Path) -> RunView:
    run = found.path
    info = dict_json(run / "simulation.json")
    config = info.get("config", {}) if isinstance(info.get("config"), dict) else {}
    images = num(info.get("images"))
    view = RunView(
        found,
        _rel(run, root),
        f"simulated dataset ({fmt(info.get('images'))} images)",
        "done",
        "simulated",
        config=info,
        config_name="simulation.json",
    )
    secs = num(info.get("seconds"))
    if images and secs:
        view.metrics.append(
            MetricRow(
                "images per second",
                images / secs,
                f"{images / secs:.1f}",
                None,
                A.SIMULATE_REFS,
                note=f"{config.get('workers', '?')} worker(s)",
            )
        )
    header, rows = read_csv(run / "labeled.csv", limit=10_000)
    if header[:2] == ["Id", "Actual"]:
        real = [r[0] for r in rows if len(r) > 1 and r[1].startswith("1")][:3]
        other = [r[0] for r in rows if len(r) > 1 and r[1].startswith("0")][:3]
        for ident, label in [(i, "label 1 (real)") for i in real] + [
            (i, "label 0 (corrupted or other)") for i in other
        ]:
            path = run / "labeled" / f"{ident}.png"
            if path.is_file():
                view.figures.append(Fig(f"labeled/{ident}.png: {label}", path, thumb=320))
    view.commands.append(commands.cosmo_simulate(str(run), config))
    view.facts.append(("simulation time", duration(secs)))
    if "cpu_seconds" in info:
        view.facts.append(("CPU time", duration(num(info["cpu_seconds"]))))
    stamp = when(run / "simulation.json")
    if stamp:
        view.facts.append(("written", stamp))
    return view


SIM_ROWS = (
    ("zero_fraction_median_clean", "zero-pixel fraction (clean images)", None, A.SIM_ZERO_REFS),
    ("n_sources_median", "sources per image", A.SIM_SOURCES, ()),
    ("n_peak_ge4_median", "sources with peak ≥ 4", None, A.SIM_PEAK_GE4_REFS),
    ("n_peak_gt100_median", "bright sources (peak > 100)", A.SIM_PEAK_GT100, ()),
    ("fwhm_median", "PSF FWHM (px)", A.SIM_FWHM, ()),
    ("pedestal_share", "share of images on a pedestal", A.SIM_PEDESTAL, ()),
)
REAL_KEYS = {
    "zero_fraction_median_clean": "zero_fraction",
    "n_sources_median": "n_sources",
    "n_peak_ge4_median": "n_peak_ge4",
    "n_peak_gt100_median": "n_peak_gt100",
    "fwhm_median": "fwhm_median",
}


def describe_cosmo_validate(found: Found, root: Path) -> RunView:
    numbers = dict_json(found.path)
    sim = numbers.get("sim", {}) if isinstance(numbers.get("sim"), dict) else {}
    real = numbers.get("real", {}) if isinstance(numbers.get("real"), dict) else {}
    sample = real.get("sample", {}) if isinstance(real.get("sample"), dict) else {}
    name = _rel(found.path.with_suffix(".png"), root)
    view = RunView(
        found,
        name,
        f"simulator validation ({numbers.get('sim_images', '?')} label-1 images)",
        "done",
        "validated",
    )
    for key, label, target, refs in SIM_ROWS:
        if key in sim:
            v = num(sim[key])
            real_v = sample.get(REAL_KEYS.get(key, ""))
            note = f"real sample: {fmt(real_v)}" if real_v is not None else ""
            if key == "fwhm_median" and "mosaic_fwhm_median" in real:
                note = f"real mosaics: {fmt(real['mosaic_fwhm_median'])}"
            view.metrics.append(MetricRow.of(label, v, target, refs, note=note))
    if "score_ks_distance" in numbers:
        v = num(numbers["score_ks_distance"])
        view.metrics.append(
            MetricRow.of("KS distance of scores vs real scored.csv", v, None, A.SIM_KS_REFS)
        )
    png = found.path.with_suffix(".png")
    if png.is_file():
        view.figures.append(
            Fig("simulated vs real statistics (bands: ANCHORS.md ranges)", png, wide=True)
        )
    view.config, view.config_name = numbers, found.path.name
    sim_dir = str(numbers.get("sim_dir", "SIM_DIR"))
    view.commands.append(
        commands.cosmo_validate(sim_dir, str(found.path.with_suffix(".png")), numbers)
    )
    stamp = when(found.path)
    if stamp:
        view.facts.append(("written", stamp))
    if numbers.get("real_dir"):
        view.facts.append(("real data", str(numbers["real_dir"])))
    return view


# -- theory and generic JSON -------------------------------------------------------------------
def json_rows(data: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, scalars) of a JSON document: its list of objects, and its top-level scalars."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)], {}
    if not isinstance(data, dict):
        return [], {}
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    for key in ("rows", "checks", "results", "parts"):
        value = data.get(key)
        if isinstance(value, list) and any(isinstance(r, dict) for r in value):
            return [r for r in value if isinstance(r, dict)], scalars
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            return [{"name": k, **v} for k, v in value.items()], scalars
    for value in data.values():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            return value, scalars
    if data and all(isinstance(v, dict) for v in data.values()):
        return [{"name": k, **v} for k, v in data.items()], {}
    return [], scalars


FIRST_COLUMNS = ("name", "check", "id", "model", "part")  # what a row is about, leftmost
LAST_COLUMNS = ("details", "message", "note")  # free text, rightmost


def rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """A table of JSON objects; JSON files store keys sorted, so the columns are reordered."""
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    header.sort(key=lambda k: (k not in FIRST_COLUMNS, k in LAST_COLUMNS))  # stable otherwise
    cells = [[_cell(r.get(k)) for k in header] for r in rows]
    return Table(title, header, cells)


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "PASS" if v else "FAIL"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_cell(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_cell(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return fmt(v)


def _passed(row: dict[str, Any]) -> bool | None:
    for key in ("passed", "pass", "ok"):
        if isinstance(row.get(key), bool):
            return row[key]
    for key in ("result", "status", "verdict"):
        if isinstance(row.get(key), str):
            return row[key].strip().upper() in ("PASS", "PASSED", "OK")
    return None


def describe_theory(found: Found, root: Path) -> RunView:
    data = read_json_safe(found.path)
    rows, scalars = json_rows(data)
    view = RunView(
        found,
        _rel(found.path, root),
        "variational-inference checks",
        "done",
        "checked",
        config=data,
        config_name=found.path.name,
    )
    verdicts = [p for p in (_passed(r) for r in rows) if p is not None]
    if verdicts:
        share = sum(verdicts) / len(verdicts)
        view.metrics.append(
            MetricRow(
                "checks passed",
                share,
                f"{sum(verdicts)}/{len(verdicts)}",
                A.THEORY_ALL_PASS,
                A.THEORY_REFS,
            )
        )
    if rows:
        view.tables.append(rows_table("checks", rows))
    elif data is not None and not scalars:
        view.notes.append("checks.json holds no list of rows; shown below as JSON")
    view.facts += [(k, _cell(v)) for k, v in scalars.items()]
    view.commands.append(
        commands.theory_check(data if isinstance(data, dict) else {}, str(found.path))
    )
    stamp = when(found.path)
    if stamp:
        view.facts.append(("written", stamp))
    return view


DESCRIBERS: dict[str, Callable[[Found, Path], RunView]] = {
    "gen-ae": describe_gen,
    "gen-vae": describe_gen,
    "gen-dcgan": describe_gen,
    "gen-real": describe_real,
    "roads-cv": describe_roads_cv,
    "roads-predict": describe_roads_predict,
    "cosmo-classify": describe_cosmo_model,
    "cosmo-regress": describe_cosmo_model,
    "cosmo-sim": describe_cosmo_sim,
    "cosmo-validate": describe_cosmo_validate,
    "theory": describe_theory,
}


def describe(found: Found, root: Path) -> RunView:
    return DESCRIBERS[found.kind](found, root)
