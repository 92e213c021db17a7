"""`cilab gen eval`: metrics.json and the figures of a trained AE/VAE run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cilab.core.checkpoint import load_checkpoint
from cilab.core.device import resolve_device
from cilab.core.errors import CilabError
from cilab.core.io import read_json, read_jsonl, write_json
from cilab.core.seed import STREAM_EVAL, derived_generator, seed_everything
from cilab.gen.data import EVAL_BINARIZE_SEED, load_gen_data, sample_binary
from cilab.gen.evaluate import embed_all, evaluate_loss, iw_log_likelihood, knn_accuracy
from cilab.gen.train import GenTrainConfig, build_gen_model


def load_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    device: torch.device | None = None,
) -> tuple[GenTrainConfig, nn.Module]:
    """The config and model of a run directory, weights from best.pt (else last.pt), last.pt or
    e.g. `epoch_015` (a periodic checkpoint)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CilabError(f"{run_dir}: no such run directory")
    path = run_dir / f"{checkpoint}.pt"
    if checkpoint == "best" and not path.exists():
        path = run_dir / "last.pt"  # a run stopped before its first epoch ended has no best.pt
    state = load_checkpoint(path)
    cfg = GenTrainConfig(**state["config"])
    model = build_gen_model(cfg)
    model.load_state_dict(state["model"])
    return cfg, model.to(device or torch.device("cpu")).eval()


def update_metrics(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merge into RUN_DIR/metrics.json, keeping keys other evaluations wrote."""
    path = run_dir / "metrics.json"
    merged = {**(read_json(path) if path.exists() else {}), **metrics}
    write_json(path, merged)
    return merged


def evaluate_run(
    run_dir: str | Path,
    iw_samples: int = 5000,
    iw_images: int | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    seed: int = 0,
    data_dir: str | None = None,
    figures: bool = True,
) -> dict[str, Any]:
    """Compute the documented metrics (see docs) on the test set and draw the figures."""
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    cfg, model = load_run(run_dir, checkpoint, dev)
    seed_everything(seed)
    data = load_gen_data(
        cfg.dataset, data_dir or cfg.data_dir, cfg.val_size, cfg.seed, dev, cfg.binarize
    )
    train_x = data.train_x
    if cfg.binarize == "dynamic":  # the encoder saw binary images: embed one fixed binary sample
        train_x = sample_binary(train_x, derived_generator(EVAL_BINARIZE_SEED, STREAM_EVAL, 2))
    test = evaluate_loss(model, data.test_x, seed)
    metrics: dict[str, Any] = {"test_recon": test["recon"], "checkpoint": checkpoint}
    if cfg.model == "vae":
        metrics.update(test_neg_elbo=test["neg_elbo"], test_kl=test["kl"])
        if iw_samples > 0:
            images = data.test_x if iw_images is None else data.test_x[:iw_images]
            ll = iw_log_likelihood(model, images, iw_samples, seed, progress=True)
            metrics.update(
                test_nll_iw=-ll.mean().item(),
                test_nll_iw_sem=(ll.std() / len(ll) ** 0.5).item(),
                iw_samples=iw_samples,
                iw_images=len(images),
            )
    train_codes, test_codes = embed_all(model, train_x), embed_all(model, data.test_x)
    train_y, test_y = data.train_y.cpu().numpy(), data.test_y.cpu().numpy()
    metrics["knn_accuracy"] = knn_accuracy(train_codes, train_y, test_codes, test_y)
    metrics["binarize"] = cfg.binarize
    np.savez_compressed(run_dir / "latent_test.npz", codes=test_codes, labels=test_y)
    if figures:
        draw_figures(run_dir, cfg, model, data.test_x, test_codes, test_y, seed)
    return update_metrics(run_dir, metrics)


@torch.no_grad()
def draw_figures(
    run_dir: Path,
    cfg: GenTrainConfig,
    model: nn.Module,
    test_x: torch.Tensor,
    test_codes: np.ndarray,
    test_y: np.ndarray,
    seed: int,
) -> None:
    """latent_scatter, reconstructions, curves; manifold and samples for the VAE."""
    from cilab.gen import plots

    name = cfg.model.upper()
    plots.plot_latent_scatter(
        test_codes,
        test_y,
        run_dir / "latent_scatter.png",
        title=f"{name} latent codes of the test set",
    )
    x = test_x[:10].unsqueeze(1).float() / 255  # [10, 1, 28, 28]
    recon = torch.sigmoid(model(x))[:, 0].cpu().numpy()
    plots.plot_reconstructions(x[:, 0].cpu().numpy(), recon, run_dir / "reconstructions.png")
    records = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    if records:
        plots.plot_curves(records, run_dir / "curves.png")
    if cfg.model != "vae":
        return
    device = next(model.parameters()).device
    z = torch.randn(
        (100, cfg.latent_dim),
        generator=derived_generator(seed, STREAM_EVAL, 300, device=device),
        device=device,
    )
    samples = torch.sigmoid(model.decode(z))[:, 0].cpu().numpy()
    plots.plot_samples(
        samples, run_dir / "samples.png", nrow=10, title=f"{name} samples from the prior"
    )
    if cfg.latent_dim == 2:

        def decode(zs: np.ndarray) -> np.ndarray:
            logits = model.decode(torch.from_numpy(zs).float().to(device))
            return torch.sigmoid(logits)[:, 0].cpu().numpy()

        plots.plot_manifold(decode, run_dir / "manifold.png")


def compare_runs(run_dirs: list[str | Path], out: str | Path) -> None:
    """Latent spaces of several evaluated runs side by side (e.g. AE vs VAE), or for DCGAN runs
    (which have no latent space to embed the test set in) their monitor curves overlaid."""
    from cilab.gen import plots
    from cilab.gen.generators import run_model
    from cilab.gen.sample_eval import draw_gan_comparison

    dirs = [Path(rd) for rd in run_dirs]
    models = [run_model(rd) for rd in dirs]
    if all(m == "dcgan" for m in models):
        return draw_gan_comparison(dirs, Path(out))
    if "dcgan" in models:
        raise CilabError("compare DCGAN runs with DCGAN runs, AE/VAE runs with AE/VAE runs")
    panels = []
    for rd, model in zip(dirs, models, strict=True):
        npz = rd / "latent_test.npz"
        if not npz.exists():
            raise CilabError(f"{npz}: missing; run `cilab gen eval {rd}` first")
        with np.load(npz) as f:
            panels.append((f"{model.upper()} ({rd.name})", f["codes"], f["labels"]))
    plots.plot_latent_compare(panels, out)
