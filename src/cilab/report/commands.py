"""The command line that reproduces a run, rebuilt from its saved config.

Runs save their resolved config (every option, defaults included) but not the command typed, so
the command is the config's non-default options as flags: what the user would type to get the
same config. Options unknown to this version of cilab are left out.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable
from typing import Any


def _defaults(cls: type) -> dict[str, Any]:
    return {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.init and f.default is not dataclasses.MISSING
    }


def config_flags(
    config: dict[str, Any], cls: type | None, exclude: Iterable[str] = ()
) -> list[str]:
    """`--flag value` words for every option of `config` that differs from `cls`'s default."""
    skip = set(exclude)
    defaults = _defaults(cls) if cls is not None else {}
    names = [n for n in defaults if n in config] if cls is not None else sorted(config)
    words: list[str] = []
    for name in names:
        if name in skip:
            continue
        value = config[name]
        if cls is not None and value == defaults[name]:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif value is None or isinstance(value, dict | list):
            continue  # None is every optional's default; nested values are not flags
        else:
            words += [flag, str(value)]
    return words


def shell(words: Iterable[Any]) -> str:
    """The words as one shell line, each quoted where the shell needs it (copy-pasteable)."""
    return " ".join(shlex.quote(str(w)) for w in words)


def _config_class(module: str, name: str) -> type | None:
    """A config dataclass, or None when it cannot be imported (the flags are then all keys)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _train_command(prefix: list[str], config: dict[str, Any], cls: type | None, **kw: Any) -> str:
    out = config.get("out")
    flags = config_flags(config, cls, exclude={"out", *kw.get("exclude", ())})
    return shell([*prefix, *flags, *(["--out", out] if out else [])])


def gen_train(config: dict[str, Any]) -> str:
    """`cilab gen train` of a saved config; defaults from the model's own config class."""
    model = str(config.get("model", "vae"))
    if model == "dcgan":
        cls = _config_class("cilab.gen.gan_train", "GANTrainConfig")
    else:
        cls = _config_class("cilab.gen.train", "GenTrainConfig")
    return _train_command(
        ["cilab", "gen", "train", "--model", model], config, cls, exclude={"model"}
    )


def gen_eval(run: str, metrics: dict[str, Any]) -> str:
    """`cilab gen eval RUN` with the options metrics.json records (defaults left out)."""
    words = ["cilab", "gen", "eval", run]
    if "iw_samples" in metrics:
        words += ["--iw-samples", metrics["iw_samples"]]
        if metrics.get("iw_images") not in (None, 10_000):
            words += ["--iw-images", metrics["iw_images"]]
    elif "test_recon" in metrics and "test_neg_elbo" in metrics:
        words += ["--iw-samples", 0]
    if "samples" in metrics and metrics["samples"] != 10_000:
        words += ["--samples", metrics["samples"]]
    checkpoint = metrics.get("checkpoint", metrics.get("sample_checkpoint", "best"))
    if checkpoint != "best":
        words += ["--checkpoint", checkpoint]
    if metrics.get("sample_temperature", 1.0) != 1.0:
        words += ["--temperature", metrics["sample_temperature"]]
    for key in ("jacobian_quantile", "rejection_quantile"):  # how the samples were filtered
        if metrics.get(key) is not None:
            words += ["--" + key.replace("_", "-"), metrics[key]]
    if metrics.get("jacobian_norm") not in (None, "relative"):
        words += ["--jacobian-norm", metrics["jacobian_norm"]]
    if metrics.get("sample_weights", "average") != "average":
        words += ["--weights", metrics["sample_weights"]]
    return shell(words)


def gen_eval_real(out: str, metrics: dict[str, Any]) -> str:
    """`cilab gen eval --real`: the real test set's reference metrics in `out`."""
    words = ["cilab", "gen", "eval", "--real", "--out", out]
    if metrics.get("dataset", "mnist") != "mnist":
        words += ["--dataset", metrics["dataset"]]
    return shell(words)


def roads_train(config: dict[str, Any]) -> str:
    """`cilab roads train` of a saved config; `fold` is set per fold internally, never typed."""
    cls = _config_class("cilab.roads.train", "RoadsTrainConfig")
    return _train_command(["cilab", "roads", "train"], config, cls, exclude={"fold"})


def roads_predict(pred_dir: str, info: dict[str, Any]) -> str:
    """`cilab roads predict` as predict.json records it: TTA, zoom, deployed models."""
    words = ["cilab", "roads", "predict", info.get("run_dir", "RUN_DIR")]
    words += ["--images", info.get("images", "IMAGES"), "--out", pred_dir]
    if info.get("tta"):
        words += ["--tta", info["tta"]]
    if info.get("tta_zoom") is not None:
        words += ["--tta-zoom", str(info["tta_zoom"])]
    models = info.get("models")
    if isinstance(models, list):  # fold models, averaged
        words += [w for k in models for w in ("--fold", str(k))]
    elif models:
        words += ["--deploy", str(models)]
    return shell(words)


def roads_eval(pred_dir: str, metrics: dict[str, Any]) -> str:
    """`cilab roads eval` of a prediction folder against metrics.json's ground truth."""
    return shell(
        ["cilab", "roads", "eval", pred_dir, "--groundtruth", metrics.get("groundtruth", "GT_DIR")]
    )


def cosmo_model_run(task: str, config: dict[str, Any]) -> str:
    """`cilab cosmo classify` or `cilab cosmo regress` (`task`) of a saved config."""
    name = "ClassifyConfig" if task == "classify" else "ModelRunConfig"
    cls = _config_class("cilab.cosmo.config", name)
    return _train_command(["cilab", "cosmo", task], config, cls)


def cosmo_simulate(out: str, config: dict[str, Any]) -> str:
    """`cilab cosmo simulate` of simulation.json's config, writing to `out`."""
    cls = _config_class("cilab.cosmo.config", "SimulateConfig")
    return shell(["cilab", "cosmo", "simulate", *config_flags(config, cls, {"out"}), "--out", out])


def cosmo_validate(sim_dir: str, figure: str, numbers: dict[str, Any]) -> str:
    """`cilab cosmo validate-sim` of `sim_dir` that wrote `figure` (and its JSON)."""
    words = ["cilab", "cosmo", "validate-sim", sim_dir, "--out", figure]
    if numbers.get("sim_images") not in (None, 200):
        words += ["--n-images", numbers["sim_images"]]
    return shell(words)


def theory_check(data: dict[str, Any], out: str) -> str:
    """`cilab theory check`, with --seed/--samples when checks.json records other values."""
    from cilab.theory.checks import DEFAULT_SAMPLES

    words = ["cilab", "theory", "check"]
    for key, default in (("seed", 0), ("samples", DEFAULT_SAMPLES)):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value != default:
            words += [f"--{key}", value]
    return shell([*words, "--out", out])
