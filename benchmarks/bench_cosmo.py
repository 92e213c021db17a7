"""Cosmology feature extraction: the exercise script's per-image loop vs cilab, same files, one run.

- exercise: what the exercise script does per image: `Image.open`, `np.array(img.getdata())`
  (every pixel through a Python list), reshape, `astype(np.uint8)`, `np.histogram(bins=10)`;
  one image at a time in one process.
- cilab-hist10: `cilab.cosmo.extract.extract_features(..., ["hist10"])` on the same files:
  `np.asarray` decoding, a sparse 256-level count, `--workers` processes, no cache.
- cilab-all: every feature family (the full feature set), same files, no cache.
- cilab-cached: every family again from a warm on-disk cache.

The hist10 vectors of the exercise and cilab are checked to be identical. Files are read once
before timing (so the page cache favours neither) and cilab's worker processes are started once
before timing (untimed, as in any run that extracts more than a handful of images); the
exercise and cilab-hist10 measurements alternate `--repeats` times, so background load hits
both alike; the table gives medians.

    python benchmarks/bench_cosmo.py --data-dir DIR --images 300 --workers 2 --out bench.json
    python benchmarks/bench_cosmo.py --quick          # simulates 24 small images, seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from cilab.cosmo.extract import extract_features
from cilab.cosmo.layout import load_layout


def exercise_features(paths: list[Path]) -> np.ndarray:
    # Pillow 12+ deprecates getdata(); the exercise's script is measured as it was written
    warnings.filterwarnings(
        "ignore", message=".*getdata is deprecated", category=DeprecationWarning
    )
    rows = []
    for p in paths:
        raw_image = Image.open(p)
        img_arr = (
            np.array(raw_image.getdata())
            .reshape(raw_image.size[0], raw_image.size[1])
            .astype(np.uint8)
        )
        hist, _ = np.histogram(img_arr, bins=10)
        rows.append(hist)
    return np.array(rows, dtype=np.float64)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data-dir", default=None, help="a cosmology layout (default: $COSMOLOGY_DATA)"
    )
    ap.add_argument("--split", default="scored", help="which split's images (default: scored)")
    ap.add_argument("--images", type=int, default=300, help="how many images (default: 300)")
    ap.add_argument("--workers", type=int, default=2, help="cilab worker processes (default: 2)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating repeats (default: 3)")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    ap.add_argument(
        "--quick", action="store_true", help="simulate 24 images of 256 px and run once"
    )
    args = ap.parse_args(argv)

    tmp = None
    if args.quick:
        from cilab.cosmo.simulate import SimulateConfig, simulate

        tmp = tempfile.TemporaryDirectory()
        args.data_dir = str(Path(tmp.name) / "sim")
        simulate(SimulateConfig(out=args.data_dir, n_labeled=0, n_scored=24, n_query=0, size=256))
        args.images, args.repeats, args.split = 24, 1, "scored"
    split = load_layout(args.data_dir).require(args.split)
    paths = list(split.paths[: args.images])
    ids = list(split.ids[: args.images])
    if len(paths) < 2:
        raise SystemExit(f"{args.data_dir}: the {args.split} split has {len(paths)} image(s); "
                         "choose another with --split or simulate more")  # fmt: skip
    megabytes = sum(p.stat().st_size for p in paths) / 1e6  # also warms the page cache
    for p in paths:
        p.read_bytes()

    # start the worker processes once, untimed: a pool is started once per run, not per image
    warm = 2 * args.workers  # a chunk for every worker, so each has imported cilab
    extract_features(paths[:warm], ids[:warm], ["hist10"], args.workers, None)
    ex_times, hist_times = [], []
    ref = cil = None
    for _ in range(args.repeats):
        ref, t = timed(exercise_features, paths)
        ex_times.append(t)
        cil, t = timed(extract_features, paths, ids, ["hist10"], args.workers, None)
        hist_times.append(t)
    assert ref is not None and cil is not None
    identical = bool(np.array_equal(ref, cil[0].X))
    (full, _), t_all = timed(extract_features, paths, ids, workers=args.workers, cache_dir=None)
    with tempfile.TemporaryDirectory() as cache:
        extract_features(paths, ids, workers=args.workers, cache_dir=Path(cache))
        _, t_cached = timed(
            extract_features, paths, ids, workers=args.workers, cache_dir=Path(cache)
        )
    n = len(paths)
    ex, hist = statistics.median(ex_times), statistics.median(hist_times)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "load_average_1min": os.getloadavg()[0],
        "data_dir": str(args.data_dir),
        "split": args.split,
        "images": n,
        "megabytes": round(megabytes, 1),
        "workers": args.workers,
        "repeats": args.repeats,
        "identical_hist10": identical,
        "exercise_ms_per_image": round(1000 * ex / n, 2),
        "exercise_images_per_s": round(n / ex, 1),
        "cilab_hist10_images_per_s": round(n / hist, 1),
        "speedup_hist10": round(ex / hist, 1),
        "cilab_all_families_images_per_s": round(n / t_all, 1),
        "all_features": int(full.X.shape[1]),
        "cilab_all_cached_images_per_s": round(n / t_cached, 1),
        "all_seconds": {"exercise": ex_times, "cilab_hist10": hist_times},
    }
    r = result
    print(f"{n} images ({megabytes:.1f} MB), {args.split}/, load {r['load_average_1min']:.1f}")
    print(f"  exercise (getdata, 1 process)  {r['exercise_images_per_s']:8.1f} images/s")
    print(
        f"  cilab hist10, {args.workers} workers        {r['cilab_hist10_images_per_s']:8.1f} "
        f"images/s  ({r['speedup_hist10']}x)"
    )
    print(
        f"  cilab all {r['all_features']} features      {r['cilab_all_families_images_per_s']:8.1f}"
    )
    print(f"  cilab all features, cached     {r['cilab_all_cached_images_per_s']:8.1f} images/s")
    print(f"  hist10 identical to the exercise: {identical}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
