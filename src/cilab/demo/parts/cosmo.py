"""The demo's cosmology part: a simulated set (or the real one with --cosmo-data), its
validation, the features, and the classification and score-regression runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cilab.demo.cache import StepRecord, config_hash, stable
from cilab.demo.context import Ctx, MissingData, flags


def cosmo(ctx: Ctx) -> dict[str, Any]:
    """Simulate and validate (or take --cosmo-data), extract, classify, regress; key metrics."""
    from cilab.cosmo.config import ClassifyConfig, ModelRunConfig

    base = ctx.dir("cosmo")
    workers = ctx.cfg.workers
    metrics: dict[str, Any] = {}
    if ctx.cfg.cosmo_data is not None:
        data = Path(ctx.cfg.cosmo_data)
        if not data.is_dir():
            raise MissingData(f"{data}: --cosmo-data is not a folder")
        data_key = config_hash({"real_data": str(data.resolve())})
    else:
        data = base / "sim"
        sim = _simulate(ctx, data)
        data_key = sim.config_hash
        metrics["sim"] = sim.metrics
        metrics["validate"] = _validate(ctx, data, base / "validate_sim.png", data_key).metrics

    npz = base / "features.npz"
    ex = ctx.ledger.step(
        "cosmo", "extract", config={}, deps=[data_key], action=lambda r: _extract(ctx, data, npz),
        where=npz, owns=[npz], outputs=[npz],
        command=f"cilab cosmo extract --data-dir {data} --out {npz} --workers {workers}",
        describe="every feature family of every image (cached)",
    )  # fmt: skip
    metrics["extract"] = ex.metrics
    for name, cls, opts in (
        ("classify", ClassifyConfig, ctx.scale.cosmo_classify),
        ("regress", ModelRunConfig, ctx.scale.cosmo_regress),
    ):
        mcfg = cls(**{**opts, "data_dir": str(data), "out": str(base / name), "workers": workers})
        rec = _model_step(ctx, name, mcfg, data_key)
        metrics[name] = rec.metrics
    return metrics


def _simulate(ctx: Ctx, out: Path) -> StepRecord:
    from cilab.cosmo.config import SimulateConfig

    scfg = SimulateConfig(**{**ctx.scale.cosmo_sim, "out": str(out), "workers": ctx.cfg.workers})
    n = scfg.n_labeled + scfg.n_scored + scfg.n_query

    def action(resume: bool) -> dict[str, Any]:
        from cilab.cosmo.simulate import simulate

        if out.exists():  # an interrupted simulation: it cannot resume, so start over
            shutil.rmtree(out)
        r = simulate(scfg, progress=True)
        return {"images": r.n_images, "size": scfg.size, "seconds": round(r.seconds, 1)}

    return ctx.ledger.step(
        "cosmo", "sim", config=stable(scfg), action=action, where=out, owns=[out],
        outputs=[out / "simulation.json"], command=f"cilab cosmo simulate {flags(scfg)}",
        describe=f"a fresh simulated set, {n:,} images of {scfg.size} px",
    )  # fmt: skip


def _validate(ctx: Ctx, data: Path, png: Path, data_key: str) -> StepRecord:
    """The simulated set against the real calibration statistics (figure + numbers)."""
    n_images = 100
    json_out = png.with_suffix(".json")

    def action(resume: bool) -> dict[str, Any]:
        from cilab.cosmo.validate_sim import validate_sim

        numbers = validate_sim(data, png, None, n_images, ctx.cfg.workers)
        return {"images": numbers.get("sim_images"), "real_dir": numbers.get("real_dir")}

    return ctx.ledger.step(
        "cosmo", "validate", config={"n_images": n_images}, deps=[data_key], action=action,
        where=png, owns=[png, json_out], outputs=[png, json_out],
        command=f"cilab cosmo validate-sim {data} --out {png} --n-images {n_images}",
        describe="simulated vs real statistics (the simulator's calibration)",
    )  # fmt: skip


def _extract(ctx: Ctx, data: Path, npz: Path) -> dict[str, Any]:
    from cilab.cosmo.extract import default_cache_dir, extract_layout

    table, stats, _ = extract_layout(
        data, npz, workers=ctx.cfg.workers, cache_dir=default_cache_dir(), progress=True
    )
    return {"images": stats.images, "features": int(table.X.shape[1])}


def _model_step(ctx: Ctx, name: str, mcfg: Any, data_key: str) -> StepRecord:
    from cilab.cosmo.classify import run_classify
    from cilab.cosmo.regress import run_regress

    run = Path(mcfg.out)

    def action(resume: bool) -> dict[str, Any]:
        if name == "classify":
            m = run_classify(mcfg, progress=True)
            r = m["results"]
            return {"best": m["best"], "best_auroc": r[m["best"]]["auroc"][0],
                    "best_accuracy": r[m["best"]]["accuracy"][0],
                    "baseline_auroc": r.get("baseline", {}).get("auroc", [None])[0]}  # fmt: skip
        m = run_regress(mcfg, progress=True)
        r = m["results"]
        out = {"best": m["best"], "best_cv_mae": r[m["best"]]["cv_mae"][0]}
        for k in ("baseline", "constant"):
            if k in r:
                out[f"{k}_cv_mae"] = r[k]["cv_mae"][0]
        if "query_mae" in r[m["best"]]:
            out["best_query_mae"] = r[m["best"]]["query_mae"]
        return out

    folds = f"{mcfg.repeats}x {mcfg.folds}-fold CV"
    what = "real vs not-real, " if name == "classify" else "similarity score, "
    outputs = [run / "metrics.json"] + ([run / "submission.csv"] if name == "regress" else [])
    return ctx.ledger.step(
        "cosmo", name, config=stable(mcfg, drop=("data_dir", "cache_dir", "cache")),
        deps=[data_key], action=action, where=run, owns=[run], outputs=outputs,
        command=f"cilab cosmo {name} {flags(mcfg)}", describe=what + folds,
    )  # fmt: skip
