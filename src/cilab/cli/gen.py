"""`cilab gen ...`: train, evaluate and compare generative models on MNIST."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cilab.cli.common import add_device_flag
from cilab.core.config import add_config_arguments, config_from_namespace, load_yaml_config
from cilab.core.errors import CilabError


def _trainers() -> dict[str, tuple[type, Callable[..., Any]]]:
    """--model -> (config dataclass, train function); the config's fields are the flags."""
    from cilab.gen.gan_train import GANTrainConfig, train_gan
    from cilab.gen.train import GenTrainConfig, train

    return {
        "ae": (GenTrainConfig, train),
        "vae": (GenTrainConfig, train),
        "dcgan": (GANTrainConfig, train_gan),
    }


def _fields(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def _checkpoint_name(name: str) -> str:
    """best, last or epoch_NNN (the weights `--checkpoint-every` keeps), else a usage error."""
    if name in ("best", "last") or re.fullmatch(r"epoch_\d{3,}", name):
        return name
    raise argparse.ArgumentTypeError(f"{name!r} is not best, last or epoch_NNN (e.g. epoch_015)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cilab gen` (train, eval, classifier, compare) to the parser."""
    gen = sub.add_parser("gen", help="generative models on MNIST (AE, VAE, DCGAN)")
    cmds = gen.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from cilab.gen.gan_train import GANTrainConfig
    from cilab.gen.jacobian import NORMS
    from cilab.gen.models.dcgan import WEIGHTS
    from cilab.gen.train import GenTrainConfig

    p = cmds.add_parser("train", help="train a model into a run directory")
    p.add_argument(
        "--model", choices=sorted(_trainers()), default=argparse.SUPPRESS,
        help="model to train (default: vae; with --resume, the run's)",
    )  # fmt: skip
    # Options every model has, then each family's own (a flag of another family is an error).
    shared = _fields(GenTrainConfig).keys() & _fields(GANTrainConfig).keys()
    vae_only = tuple(_fields(GenTrainConfig).keys() - shared)
    add_config_arguments(p, GenTrainConfig, exclude=("model", *vae_only))
    vae_group = p.add_argument_group("options of --model ae, vae")
    add_config_arguments(vae_group, GenTrainConfig, exclude=tuple(shared))
    gan_group = p.add_argument_group("options of --model dcgan")
    add_config_arguments(gan_group, GANTrainConfig, exclude=tuple(shared))
    _note_other_defaults(p, _fields(GenTrainConfig), _fields(GANTrainConfig), "dcgan")
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.set_defaults(handler=_train)

    p = cmds.add_parser("eval", help="metrics.json and figures for a trained run")
    p.add_argument(
        "run_dir", metavar="RUN_DIR", nargs="?", help="a run directory (not with --real)"
    )
    p.add_argument(
        "--samples", type=int, default=10_000,
        help="generated digits judged by the classifier (VAE, DCGAN); 0 skips (default: 10000)",
    )  # fmt: skip
    p.add_argument(
        "--classifier", default=None, metavar="FILE|ID",
        help="judging classifier (default: the last `cilab gen classifier` trained)",
    )  # fmt: skip
    p.add_argument(
        "--real", action="store_true",
        help="judge the real test set instead of a run (the reference row); needs --out",
    )  # fmt: skip
    p.add_argument("--out", default=None, metavar="DIR", help="where --real writes its metrics")
    p.add_argument(
        "--dataset", choices=["mnist", "fashion-mnist"], default="mnist",
        help="dataset of --real (default: mnist)",
    )  # fmt: skip
    p.add_argument(
        "--iw-samples",
        type=int,
        default=5000,
        help="K for the importance-weighted NLL; 0 skips it (default: 5000)",
    )
    p.add_argument(
        "--iw-images",
        type=int,
        default=None,
        help="only the first N test images for the IW NLL (default: all)",
    )
    p.add_argument(
        "--checkpoint",
        type=_checkpoint_name,
        default="best",
        metavar="{best,last,epoch_NNN}",
        help="which weights: best.pt, last.pt, or a periodic epoch_NNN.pt (default: best)",
    )
    p.add_argument(
        "--data-dir", default=None, help="data folder, if not the one the run was trained on"
    )
    p.add_argument(
        "--temperature", type=float, default=1.0,
        help="scale of the noise / prior draws the samples come from: z ~ N(0, T^2 I); "
        "below 1 trades diversity for typical samples (default: 1, the model's prior)",
    )  # fmt: skip
    p.add_argument(
        "--rejection-quantile", type=float, default=None, metavar="Q",
        help="DCGAN: discriminator rejection sampling (Azadi et al. 2019), accepting a sample "
        "with probability min(1, exp(logit - M)), M the Q-quantile of the logits; 1 is the "
        "paper's maximum (default: off)",
    )  # fmt: skip
    p.add_argument(
        "--jacobian-quantile", type=float, default=None, metavar="Q",
        help="keep only noise whose Jacobian norm (how fast the image changes with it) is below "
        "the Q-quantile of a burn-in's, dropping the in-between shapes where the generator "
        "crosses from one digit to another (Tanielian et al. 2020; about Q of the draws kept; "
        "default: off)",
    )  # fmt: skip
    p.add_argument(
        "--jacobian-norm", choices=NORMS, default=NORMS[0],
        help="with --jacobian-quantile: the norm divided by the image's own (relative: asks how "
        "fast a digit changes for its ink, so bold and thin digits are judged alike) or the "
        "paper's plain norm (default: relative)",
    )  # fmt: skip
    p.add_argument(
        "--weights", choices=WEIGHTS, default=WEIGHTS[0],
        help="DCGAN: which generator samples: the run's own (average: its weight average where "
        "kept), the slow average of --g-ema-slow, or the trained weights without any average "
        "(raw), to compare them on one checkpoint (default: average)",
    )  # fmt: skip
    p.add_argument("--no-figures", action="store_true", help="metrics only")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation noise (default: 0)")
    p.add_argument(
        "--draws", type=int, default=1, metavar="N",
        help="generators: judge N independent sample sets (seeds SEED, SEED+1, ...) and list "
        "their FD, IS and class entropy, since an FD moves from draw to draw (default: 1)",
    )  # fmt: skip
    add_device_flag(p)
    p.set_defaults(handler=_eval)

    from cilab.gen.classifier import ClassifierConfig

    p = cmds.add_parser(
        "classifier", help="train the MNIST CNN that judges generated digits (into the cache)"
    )
    add_config_arguments(p, ClassifierConfig)
    p.set_defaults(handler=_classifier)

    p = cmds.add_parser(
        "compare",
        help="latent spaces of evaluated AE/VAE runs side by side, or DCGAN runs' monitor curves",
    )
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.set_defaults(handler=_compare)


def _note_other_defaults(
    p: argparse.ArgumentParser, base: dict[str, Any], other: dict[str, Any], name: str
) -> None:
    """Shared flags whose default differs for `name` say so in --help."""
    for action in p._actions:
        dest = action.dest
        if dest in base and dest in other and base[dest] != other[dest] and action.help:
            action.help = action.help.replace(
                f"(default: {base[dest]})", f"(default: {base[dest]}; {name}: {other[dest]})"
            )


def _chosen_model(args: argparse.Namespace) -> str:
    """--model, else the YAML file's model, else (with --resume) the run's, else vae."""
    from cilab.core.io import read_json

    trainers = _trainers()
    yaml = load_yaml_config(args.config) if args.config else {}
    model = getattr(args, "model", None) or yaml.get("model")
    out = getattr(args, "out", None) or yaml.get("out")
    if args.resume and out and (Path(out) / "config.json").is_file():
        saved = read_json(Path(out) / "config.json").get("model")
        if model is not None and model != saved:
            raise CilabError(f"{out} holds a {saved} run: cannot change the model when resuming")
        model = saved
    model = model or "vae"
    if model not in trainers:
        raise CilabError(f"unknown model {model!r}; choose one of {', '.join(sorted(trainers))}")
    return model


def _train(args: argparse.Namespace) -> int:
    trainers = _trainers()
    model = _chosen_model(args)
    cls, train = trainers[model]
    names = _fields(cls).keys()
    every = set().union(*(_fields(c).keys() for c, _ in trainers.values()))
    stray = sorted((vars(args).keys() & every) - names)
    if stray:
        flags = ", ".join("--" + k.replace("_", "-") for k in stray)
        raise CilabError(f"{flags}: not an option of --model {model}; see `cilab gen train --help`")
    args.model = model
    cfg = config_from_namespace(cls, args)
    typed = {k for k in vars(args) if k in names} - ({"model"} if args.resume else set())
    result = train(cfg, resume=args.resume, typed=typed)
    if result.status == "interrupted":
        print(
            f"cilab: interrupted; saved {result.run_dir / 'last.pt'} at step {result.global_step}. "
            f"Continue with: cilab gen train --out {result.run_dir} --resume",
            file=sys.stderr,
        )
        return 130
    print(f"run saved in {result.run_dir} ({result.epoch} epochs, {result.global_step} steps)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from cilab.gen.generators import GENERATORS, run_model
    from cilab.gen.jacobian import check_keep
    from cilab.gen.models.dcgan import WEIGHTS
    from cilab.gen.rejection import check_quantile
    from cilab.gen.sample_eval import check_draws, check_temperature, evaluate_real

    check_temperature(args.temperature)  # before a VAE's likelihood evaluation, not after
    check_draws(args.draws)
    if args.rejection_quantile is not None:
        check_quantile(args.rejection_quantile)
    if args.jacobian_quantile is not None:
        check_keep(args.jacobian_quantile)
    elif args.jacobian_norm != "relative":
        raise CilabError("--jacobian-norm chooses the norm of --jacobian-quantile; give both")
    if args.real:
        if args.out is None or args.run_dir is not None:
            raise CilabError("--real judges the test set: give --out DIR and no RUN_DIR")
        for flag in ("rejection_quantile", "jacobian_quantile"):
            if getattr(args, flag) is not None:
                option = "--" + flag.replace("_", "-")
                raise CilabError(f"{option} filters a generator's samples, not real images")
        if args.weights != WEIGHTS[0]:
            raise CilabError("--weights picks a DCGAN's generator; --real judges real images")
        if args.draws != 1:
            raise CilabError("--draws judges a generator's sample sets; --real judges the test set")
        metrics = evaluate_real(args.out, args.classifier, args.dataset, args.data_dir, args.device)
    elif args.run_dir is None:
        raise CilabError("give a RUN_DIR, or --real --out DIR for the real test set")
    else:
        evaluators = {"ae": _eval_likelihood, "vae": _eval_likelihood, "dcgan": _eval_samples}
        model = run_model(args.run_dir)
        if model not in evaluators:
            raise CilabError(f"{args.run_dir}: cannot evaluate a {model!r} run")
        if args.weights != WEIGHTS[0] and model != "dcgan":
            raise CilabError(f"{args.run_dir}: --weights picks a DCGAN's generator; a {model} "
                             "run has one set of weights")  # fmt: skip
        if args.rejection_quantile is not None and model != "dcgan":
            raise CilabError(f"{args.run_dir}: --rejection-quantile needs a DCGAN run (its "
                             f"discriminator); a {model} run has none")  # fmt: skip
        if args.draws != 1 and model not in GENERATORS:
            raise CilabError(f"{args.run_dir}: --draws judges a generator's sample sets; a "
                             f"{model} run draws none")  # fmt: skip
        if args.jacobian_quantile is not None and model not in GENERATORS:
            names = ", ".join(sorted(GENERATORS))
            raise CilabError(f"{args.run_dir}: --jacobian-quantile needs a generator ({names}); "
                             f"a {model} run is none")  # fmt: skip
        metrics = evaluators[model](args)
    for k, v in sorted(metrics.items()):
        if v is not None:  # None marks a filter not applied (kept in metrics.json to clear it)
            print(f"{k:>22s}  {_shown(v, digits=4 if k.endswith('_draws') else 3)}")
    return 0


def _shown(value: Any, digits: int = 3) -> str:
    """A metric as printed: floats to 4 decimals, a list of floats (per class, per draw) to
    `digits` significant digits."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and all(isinstance(v, float | None) for v in value):
        return " ".join("-" if v is None else f"{v:.{digits}g}" for v in value)
    return str(value)


def _eval_samples(args: argparse.Namespace) -> dict[str, Any]:
    from cilab.gen.sample_eval import evaluate_samples

    if args.samples < 2:
        raise CilabError("a DCGAN run is judged by its samples: --samples must be >= 2")
    return evaluate_samples(
        args.run_dir, args.samples, args.checkpoint, args.classifier, args.device, args.seed,
        args.data_dir, args.temperature, figures=not args.no_figures,
        rejection=args.rejection_quantile, jacobian=args.jacobian_quantile,
        jacobian_norm=args.jacobian_norm, weights=args.weights, draws=args.draws,
    )  # fmt: skip


def _eval_likelihood(args: argparse.Namespace) -> dict[str, Any]:
    """The AE/VAE metrics, then (VAE, with a classifier in the cache) the sample metrics."""
    from cilab.core.progress import note
    from cilab.gen.classifier import NoClassifier
    from cilab.gen.generators import GENERATORS, run_model
    from cilab.gen.run_eval import evaluate_run

    metrics = evaluate_run(
        args.run_dir,
        iw_samples=args.iw_samples,
        iw_images=args.iw_images,
        checkpoint=args.checkpoint,
        device=args.device,
        seed=args.seed,
        data_dir=args.data_dir,
        figures=not args.no_figures,
    )
    if args.samples > 1 and run_model(args.run_dir) in GENERATORS:
        try:
            metrics = _eval_samples(args)
        except NoClassifier as e:
            note(f"sample metrics skipped: {e}")
    return metrics


def _classifier(args: argparse.Namespace) -> int:
    from cilab.gen.classifier import ClassifierConfig, train_classifier

    result = train_classifier(config_from_namespace(ClassifierConfig, args))
    print(f"classifier {result.id}: test accuracy {result.test_accuracy:.4%} "
          f"({result.wall_s:.0f} s); saved {result.path} (the default from now on)")  # fmt: skip
    return 0


def _compare(args: argparse.Namespace) -> int:
    from cilab.gen.run_eval import compare_runs

    compare_runs(args.run_dirs, args.out)
    print(f"wrote {args.out}")
    return 0
