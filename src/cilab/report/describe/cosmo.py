"""The report's view of a cosmology run: a classification or score-regression run, a
simulated dataset, a simulator validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cilab.report import anchors as A
from cilab.report import commands
from cilab.report.discover import Found
from cilab.report.runfiles import dict_json, existing, read_csv, rel_name, stamped
from cilab.report.view import Fig, MetricRow, RunView, Table, duration, fmt, fmt_pm, num


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


def _classify_rows(results: dict[str, Any], best: str) -> list[MetricRow]:
    """The best feature model's AUROC against the exercise's baseline under the same CV (its
    target), its other scores, the baseline's and the CNN's AUROC."""
    rows: list[MetricRow] = []
    base = results.get("baseline", {})
    base_auroc = num((base.get("auroc") or [None])[0])
    target = A.Target(">", base_auroc, "exercise baseline, same CV") if base_auroc else None
    v, shown = fmt_pm(results[best].get("auroc"))
    rows.append(
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
        rows.append(MetricRow(f"{label}, {best}", v, shown))
    if base:
        v, shown = fmt_pm(base.get("auroc"))
        rows.append(MetricRow("AUROC, exercise baseline", v, shown))
    if "cnn" in results:
        v, shown = fmt_pm(results["cnn"].get("auroc"))
        rows.append(MetricRow("AUROC, CNN", v, shown, target))
    return rows


def _regress_rows(results: dict[str, Any], best: str) -> list[MetricRow]:
    """The best model's CV MAE against the constant (median) model, and its query MAE where
    the truth is known (simulated data)."""
    rows: list[MetricRow] = []
    v, shown = fmt_pm(results[best].get("cv_mae"))
    const = num((results.get("constant", {}).get("cv_mae") or [None])[0])
    note = f"{const / v:.1f}× better than the constant model" if const and v else ""
    rows.append(
        MetricRow(f"CV MAE, best model ({best})", v, shown, None, A.COSMO_REGRESS_REFS, note=note)
    )
    if const is not None:
        rows.append(MetricRow.of("CV MAE, constant (median) model", const))
    if "query_mae" in results[best]:
        v = num(results[best]["query_mae"])
        rows.append(MetricRow.of(f"query MAE ({best}, simulated truth)", v))
    return rows


def _model_run_facts(metrics: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, str]]:
    """Wall time, feature-extraction speed, the CNN's splits and the worker count of a run."""
    facts: list[tuple[str, str]] = []
    if "seconds" in metrics:
        facts.append(("wall time", duration(num(metrics["seconds"]))))
    f = metrics.get("features")
    if isinstance(f, dict) and "images_per_s" in f:
        speed = f"{f.get('images')} images, {f.get('images_per_s')} images/s"
        facts.append(("feature extraction", f"{speed}, {f.get('features')} features"))
    c = metrics.get("cnn")
    if isinstance(c, dict):
        each = f"{fmt(c.get('split_seconds'))} s each"
        facts.append(("CNN", f"{c.get('splits')} splits, {each}, {c.get('epochs')} epochs"))
    if "workers" in config:
        facts.append(("workers", str(config["workers"])))
    return facts


def describe_cosmo_model(found: Found, root: Path) -> RunView:
    """A classify or regress run: the best model against the baseline, tables, figures."""
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
    view = RunView(found, rel_name(run, root), title, state, text, config=config)
    if task == "classify" and best in results:
        view.metrics += _classify_rows(results, best)
    elif task == "regress" and best in results:
        view.metrics += _regress_rows(results, best)
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
    view.facts += _model_run_facts(metrics, config)
    view.facts += stamped("finished", run / "metrics.json")
    return view


def describe_cosmo_sim(found: Found, root: Path) -> RunView:
    """A simulated set: images per second, a few labelled images of each label, timings."""
    run = found.path
    info = dict_json(run / "simulation.json")
    config = info.get("config", {}) if isinstance(info.get("config"), dict) else {}
    images = num(info.get("images"))
    view = RunView(
        found,
        rel_name(run, root),
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
    view.facts += stamped("written", run / "simulation.json")
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
    """A validate-sim FIG.json: simulated statistics against anchors and the real sample."""
    numbers = dict_json(found.path)
    sim = numbers.get("sim", {}) if isinstance(numbers.get("sim"), dict) else {}
    real = numbers.get("real", {}) if isinstance(numbers.get("real"), dict) else {}
    sample = real.get("sample", {}) if isinstance(real.get("sample"), dict) else {}
    name = rel_name(found.path.with_suffix(".png"), root)
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
    view.facts += stamped("written", found.path)
    if numbers.get("real_dir"):
        view.facts.append(("real data", str(numbers["real_dir"])))
    return view
