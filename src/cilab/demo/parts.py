"""The demo's four parts; each is a few steps, and each step is one run of one cilab command.

Every step goes through `Ledger.step`, which reuses, resumes or reruns it by its config hash.
A part returns its key metrics; `MissingData` says the part's data is absent (the demo goes on).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cilab.core.errors import CilabError
from cilab.demo.cache import Ledger, StepRecord, config_hash, stable
from cilab.demo.config import DemoConfig


class MissingData(CilabError):
    """A part's data is absent; the message says exactly where it is looked for."""


@dataclass
class Ctx:
    cfg: DemoConfig
    ledger: Ledger

    @property
    def scale(self) -> Any:
        return self.cfg.scale

    def dir(self, part: str) -> Path:
        return Path(self.cfg.out) / part


def flags(cfg: Any, exclude: tuple[str, ...] = (), always: tuple[str, ...] = ()) -> str:
    """The command-line flags that rebuild dataclass `cfg` from its defaults."""
    cls = type(cfg)
    base = cls(**{k: getattr(cfg, k) for k in ("model",) if hasattr(cfg, k)})
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in exclude or (value == getattr(base, f.name) and f.name not in always):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            out.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(out)


def note(message: str) -> None:
    print(f"cilab: note: {message}", file=sys.stderr, flush=True)


def _pick(metrics: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: metrics[k] for k in keys if k in metrics}


def _last_record(run_dir: Path) -> dict[str, Any]:
    from cilab.core.io import read_jsonl

    path = run_dir / "metrics.jsonl"
    records = read_jsonl(path) if path.exists() else []
    return records[-1] if records else {}


def _interrupted(status: str) -> None:
    if status == "interrupted":
        raise KeyboardInterrupt


# == theory ===================================================================================
def theory(ctx: Ctx) -> dict[str, Any]:
    from cilab.core.io import write_json
    from cilab.theory.checks import format_results, results_json, timed_run_checks

    opts = {"seed": 0, **ctx.scale.theory}
    path = ctx.dir("theory") / "checks.json"

    def action(resume: bool) -> dict[str, Any]:
        results, elapsed = timed_run_checks(opts["seed"], opts["samples"])
        print(format_results(results, elapsed), flush=True)
        table = results_json(results, elapsed, opts["seed"], opts["samples"])
        write_json(path, table)
        failed = [c["name"] for c in table["checks"] if not c["passed"]]
        return {"n_checks": table["n_checks"], "n_passed": table["n_passed"], "failed": failed}

    rec = ctx.ledger.step(
        "theory", "checks", config=opts, action=action, where=path, owns=[path], outputs=[path],
        command=f"cilab theory check --seed {opts['seed']} --samples {opts['samples']} "
        f"--out {path}",
        describe=f"the checks, {opts['samples']:,} Monte Carlo draws each",
    )  # fmt: skip
    if rec.metrics["failed"]:
        raise CilabError(f"theory checks failed: {', '.join(rec.metrics['failed'])} ({path})")
    return {"checks": rec.metrics}


# == gen ======================================================================================
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
        _interrupted(result.status)
        last = _last_record(run)
        keys = GAN_TRAIN_KEYS if tcfg.model == "dcgan" else ("epoch", "img_per_s")
        return {"steps": result.global_step, **_pick(last, keys)}

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
        return _pick(m, LIKELIHOOD_KEYS + (SAMPLE_KEYS if samples else ()))

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
        return _pick(m, SAMPLE_KEYS)

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


# == roads ====================================================================================
def roads_layout(data_dir: str | None) -> str:
    """Where the road data is looked for, file by file."""
    if data_dir is not None:
        root = f"{data_dir}/roads"
    elif os.environ.get("CILAB_DATA"):
        root = f"$CILAB_DATA/roads (= {os.environ['CILAB_DATA']}/roads)"
    else:
        root = "$CILAB_DATA/roads"
    r = root.split(" ")[0]
    return (
        f"the road data (CIL 2019) goes in {root}:\n"
        f"    {r}/training/images/*.png        RGB aerial tiles, e.g. satImage_001.png\n"
        f"    {r}/training/groundtruth/*.png   their masks, same file names\n"
        f"    {r}/test_images/test_N.png       test images (optional: predictions, submission)\n"
        "  set CILAB_DATA (or pass --data-dir DIR with DIR/roads) and rerun the demo: the "
        "finished parts are reused"
    )


def find_roads(data_dir: str | None) -> Path:
    from cilab.roads.data import find_roads_dir

    try:
        root = find_roads_dir(data_dir)
    except CilabError:
        raise MissingData(f"no road data found\n  {roads_layout(data_dir)}") from None
    for sub in ("training/images", "training/groundtruth"):
        folder = root / sub
        if not folder.is_dir() or not any(folder.glob("*.png")):
            raise MissingData(
                f"{folder}: missing or holds no .png files\n  {roads_layout(data_dir)}"
            )
    return root


ROADS_KEYS = ("patch_accuracy", "patch_f1", "pixel_f1", "pixel_iou")


def roads(ctx: Ctx) -> dict[str, Any]:
    from cilab.roads.train import RoadsTrainConfig

    root = find_roads(ctx.cfg.data_dir)
    base = ctx.dir("roads")
    metrics: dict[str, Any] = {}
    trained = {}
    for name, opts in (("logreg", ctx.scale.roads_logreg), ("unet", ctx.scale.roads_unet)):
        rcfg = RoadsTrainConfig(
            **{**opts, "data_dir": str(root), "device": ctx.cfg.device, "out": str(base / name)}
        )
        trained[name] = _roads_train(ctx, name, rcfg)
        metrics[name] = trained[name].metrics
    test_dir = root / "test_images"
    if not test_dir.is_dir() or not any(test_dir.glob("*.png")):
        note(f"{test_dir}: no test images; skipping the predictions and the submission")
        return metrics
    run = base / "unet"
    pred = run / "test_pred"
    tta = ctx.scale.roads_predict.get("tta")
    p = ctx.ledger.step(
        "roads", "unet-predict", config={"tta": tta, "images": str(test_dir)},
        deps=[trained["unet"].config_hash], action=lambda resume: _predict(ctx, run, test_dir, tta),
        where=pred, owns=[pred], outputs=[pred / "predict.json"],
        command=f"cilab roads predict {run} --images {test_dir} --out {pred}"
        + (f" --tta {tta}" if tta else ""),
        describe="masks and overlays of the test images",
    )  # fmt: skip
    csv = run / "submission.csv"
    s = ctx.ledger.step(
        "roads", "unet-submit", config={}, deps=[p.config_hash], where=csv, owns=[csv],
        outputs=[csv], action=lambda resume: _submit(pred, csv),
        command=f"cilab roads submit {pred} --out {csv}", describe="the competition's CSV",
    )  # fmt: skip
    metrics["unet"] = {**metrics["unet"], **p.metrics, **s.metrics}
    return metrics


def _roads_train(ctx: Ctx, name: str, rcfg: Any) -> StepRecord:
    from cilab.roads.train import train_roads

    run = Path(rcfg.out)

    def action(resume: bool) -> dict[str, Any]:
        result = train_roads(rcfg, resume=resume and (run / "config.json").exists())
        _interrupted(result.status)
        s = result.summary
        assert s is not None
        return {
            **{k: s["mean_std"][k]["mean"] for k in ROADS_KEYS},
            "trained_folds": s["trained_folds"], "folds": s["folds"],
            "deployed_threshold": s["deployed_threshold"],
            "all_background_patch_accuracy": s["reference_all_background"]["patch_accuracy"],
        }  # fmt: skip

    folds = rcfg.train_folds or rcfg.folds
    what = "course baseline (logistic regression)" if rcfg.model == "logreg" else "U-Net"
    what += f", {folds} of {rcfg.folds} folds"
    if rcfg.model != "logreg":
        what += f", {rcfg.epochs} epoch{'s' * (rcfg.epochs != 1)} at {rcfg.scale:g}x resolution"
    return ctx.ledger.step(
        "roads", name, config=stable(rcfg, drop=("data_dir",)),
        deps=[str(Path(rcfg.data_dir).resolve())],
        action=action, where=run, owns=[run], outputs=[run / "cv.json", run / "predictor.json"],
        command=f"cilab roads train {flags(rcfg, exclude=('fold',), always=('model',))}",
        describe=what,
    )  # fmt: skip


def _predict(ctx: Ctx, run: Path, images: Path, tta: str | None) -> dict[str, Any]:
    from cilab.roads.predict import predict_folder

    info = predict_folder(run, images, run / "test_pred", tta=tta, device=ctx.cfg.device)
    return {"test_images": info["n_images"], **_pick(info, ("patch_threshold", "tta"))}


def _submit(pred: Path, csv: Path) -> dict[str, Any]:
    from cilab.roads.predict import patch_threshold_of
    from cilab.roads.submit import submit_folder

    return {"submission_rows": submit_folder(pred, csv, patch_threshold_of(pred, None), None)}


# == cosmo ====================================================================================
def cosmo(ctx: Ctx) -> dict[str, Any]:
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


PART_FUNCTIONS = {"theory": theory, "gen": gen, "roads": roads, "cosmo": cosmo}
