"""`cilab cosmo simulate`: write a dataset in exactly the original layout, deterministically.

Every image has its own random stream, `default_rng([seed, split, index])`, so the output does
not depend on `--workers` or on the order in which workers finish. Images are written
atomically (a temporary file renamed into place), CSVs last, so a folder with `scored.csv` in it
is complete.

What is drawn (see field.py, corruptions.py, photos.py and scores.py for the details):
- labeled: 5/6 real fields (label 1.0; a 1-3 grey-level pedestal on a quarter of them), 1/12
  corrupted fields and 1/12 other content (label 0.0); the original has 1000 + 200.
- scored and query: other content, corrupted fields and clean fields in the real score
  distribution's proportions (11.7 %, 11.9 %, 76.4 %), each with its similarity score.
  Query scores go to `query_truth.csv` (not part of the original layout); `query_example.csv`
  lists the query ids in the submission order, like the original.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cilab.core.errors import CilabError
from cilab.core.io import atomic_path, atomic_write, write_json
from cilab.core.progress import progress_bar
from cilab.cosmo import scores
from cilab.cosmo.config import SimulateConfig
from cilab.cosmo.corruptions import choose_corruption, corrupt
from cilab.cosmo.field import add_pedestal, draw_field, render_sources
from cilab.cosmo.photos import other_content
from cilab.cosmo.rescale import to_uint8_one_max

SPLIT_CODES = {"labeled": 1, "scored": 2, "query": 3}
REAL_SOURCES = (65, 100)  # per 1000² px, drawn; ≈ 45-80 of them are visible (see ANCHORS.md)
META_COLUMNS = (
    "split", "Id", "kind", "detail", "n_sources", "n_galaxies", "fwhm", "beta", "pedestal",
    "strength", "score",
)  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One image to render, from `plan_items`: split, index (seeds its stream), id and kind."""

    split: str
    index: int
    ident: str
    kind: str  # real | field | corrupted | other


def render_item(item: Item, seed: int, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One image and its metadata row, from its own random stream."""
    rng = np.random.default_rng([seed, SPLIT_CODES[item.split], item.index])
    meta: dict[str, Any] = {"split": item.split, "Id": item.ident, "kind": item.kind}
    if item.kind == "other":
        q = float(rng.random())
        img, detail = other_content(rng, size, q)
        meta.update(detail=detail, strength=q, score=scores.other_score(q))
        return to_uint8_one_max(img), meta
    labeled = item.split == "labeled"
    if item.kind == "field":
        p = draw_field(rng, size, scores.SCORED_FIELD_SOURCES, pedestal_prob=0.0)
    else:
        p = draw_field(rng, size, REAL_SOURCES, pedestal_prob=0.25 if item.kind == "real" else 0.0)
    img = add_pedestal(render_sources(p), p.pedestal, rng)
    meta.update(
        n_sources=p.n_sources,
        n_galaxies=p.n_galaxies,
        fwhm=round(p.fwhm, 4),
        beta=round(p.beta, 4),
        pedestal=round(p.pedestal, 4),
    )
    if item.kind == "corrupted":
        name = choose_corruption(rng)
        kappa = float(rng.uniform(0.25, 1.0) if labeled else rng.random())
        img = corrupt(img, name, rng, kappa)
        meta.update(detail=name, strength=round(kappa, 6), score=scores.corrupted_score(kappa))
    elif item.kind == "field":
        meta.update(detail="clean", score=scores.field_score(p))
    else:
        meta.update(detail="pedestal" if p.pedestal else "clean")
    return to_uint8_one_max(img), meta


def write_png(path: Path, img: np.ndarray) -> None:
    """Write an 8-bit grey PNG atomically, at zlib level 1 (fast)."""
    with atomic_path(path) as tmp:
        Image.fromarray(img, mode="L").save(tmp, format="PNG", compress_level=1)


def _render_batch(
    items: list[Item], seed: int, size: int, out: str
) -> tuple[list[dict[str, Any]], float]:
    """Render and write a batch; its metadata rows and the CPU seconds spent."""
    cpu = time.process_time()
    rows = []
    for item in items:
        img, meta = render_item(item, seed, size)
        write_png(Path(out) / item.split / f"{item.ident}.png", img)
        rows.append(meta)
    return rows, time.process_time() - cpu


def plan_items(cfg: SimulateConfig) -> list[Item]:
    """Ids and kinds of every image; drawn from `seed` alone, so they never depend on workers."""
    rng = np.random.default_rng([cfg.seed, 0])
    total = cfg.n_labeled + cfg.n_scored + cfg.n_query - cfg.shared_ids
    ids = (1_000_000 + rng.choice(9_000_000, size=total, replace=False)).astype(str)
    lab_ids = ids[: cfg.n_labeled]
    sco_ids = ids[cfg.n_labeled : cfg.n_labeled + cfg.n_scored]
    qry_ids = np.concatenate(
        [
            rng.choice(sco_ids, size=cfg.shared_ids, replace=False),
            ids[cfg.n_labeled + cfg.n_scored :],
        ]
    )
    rng.shuffle(qry_ids)
    n_real = round(cfg.n_labeled * 5 / 6)
    n_corrupt = (cfg.n_labeled - n_real) // 2
    lab_kinds = np.array(
        ["real"] * n_real
        + ["corrupted"] * n_corrupt
        + ["other"] * (cfg.n_labeled - n_real - n_corrupt)
    )
    rng.shuffle(lab_kinds)
    items = [
        Item("labeled", i, str(j), str(k))
        for i, (j, k) in enumerate(zip(lab_ids, lab_kinds, strict=True))
    ]
    probs = [scores.U_OTHER, scores.U_CORRUPTED - scores.U_OTHER, 1.0 - scores.U_CORRUPTED]
    for split, split_ids in (("scored", sco_ids), ("query", qry_ids)):
        kinds = rng.choice(["other", "corrupted", "field"], size=len(split_ids), p=probs)
        items += [
            Item(split, i, str(j), str(k))
            for i, (j, k) in enumerate(zip(split_ids, kinds, strict=True))
        ]
    return items


def _csv_bytes(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    data = _csv_bytes(header, rows)
    atomic_write(path, lambda f: f.write(data))


@dataclass(frozen=True)
class SimulateResult:
    """What `simulate` wrote and what it cost; the CLI prints it."""

    out: Path
    n_images: int
    seconds: float  # wall clock
    cpu_seconds: float  # summed over workers


def simulate(cfg: SimulateConfig, progress: bool = False) -> SimulateResult:
    """Render the images of `plan_items` in `--workers` processes into the absent or empty
    `cfg.out`, then the CSVs and simulation.json.
    """
    from joblib import Parallel, delayed

    if not cfg.out:
        raise CilabError("--out DIR is required")
    out = Path(cfg.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CilabError(f"{out}: exists and is not an empty folder; choose a new --out")
    items = plan_items(cfg)
    for split in SPLIT_CODES:
        (out / split).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    batch = 24
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    jobs = (delayed(_render_batch)(b, cfg.seed, cfg.size, str(out)) for b in batches)
    runner = Parallel(n_jobs=cfg.workers, return_as="generator")
    results = runner(jobs)
    if progress:
        results = progress_bar(
            results, total=len(batches), unit="batch", desc="simulate", leave=False
        )
    parts = list(results)
    meta = [row for rows, _ in parts for row in rows]
    seconds = time.perf_counter() - start
    cpu = float(sum(c for _, c in parts))
    _write_outputs(out, cfg, meta, seconds, cpu)
    return SimulateResult(out, len(meta), seconds, cpu)


def _write_outputs(
    out: Path, cfg: SimulateConfig, meta: list[dict[str, Any]], seconds: float, cpu: float
) -> None:
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLIT_CODES}
    for row in meta:
        by_split[row["split"]].append(row)
    rows = [tuple(m.get(c, "") for c in META_COLUMNS) for m in meta]
    _write_csv(out / "sim_meta.csv", META_COLUMNS, rows)
    lab = [(m["Id"], "1.0" if m["kind"] == "real" else "0.0") for m in by_split["labeled"]]
    _write_csv(out / "labeled.csv", ("Id", "Actual"), lab)
    _write_csv(
        out / "scored.csv",
        ("Id", "Actual"),
        [(m["Id"], f"{m['score']:.10f}") for m in by_split["scored"]],
    )
    query = by_split["query"]
    _write_csv(
        out / "query_truth.csv", ("Id", "Actual"), [(m["Id"], f"{m['score']:.10f}") for m in query]
    )
    order = np.random.default_rng([cfg.seed, 4]).permutation(len(query))
    _write_csv(
        out / "query_example.csv", ("Id", "Predicted"), [(query[i]["Id"], "0.0") for i in order]
    )
    write_json(
        out / "simulation.json",
        {
            "config": {k: v for k, v in vars(cfg).items() if k != "out"},
            "images": len(meta),
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
        },
    )
