"""`run_demo(cfg)`: run the chosen parts in order, record each in demo.json, print a summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cilab.core.errors import CilabError
from cilab.demo.cache import Ledger, config_hash
from cilab.demo.config import PARTS, DemoConfig, Scale
from cilab.demo.context import Ctx, MissingData
from cilab.demo.parts import PART_FUNCTIONS


@dataclass
class DemoResult:
    """What `run_demo` returns to `cilab demo`: output folder, part statuses, exit code."""

    out: Path
    statuses: dict[str, str]  # the parts run now: done, missing-data, failed, interrupted
    exit_code: int  # 0: all done (or data missing); 1: a part failed; 130: interrupted


def describe(part: str, s: Scale) -> str:
    """One line: what the part runs at this scale."""
    if part == "theory":
        return f"variational-inference identities, numerically ({s.theory['samples']:,} draws)"
    if part == "gen":
        ae, vae, gan = (_epochs(o.get("epochs", 0)) for o in (s.ae, s.vae, s.dcgan))
        return (
            f"AE ({ae}) and VAE ({vae}) with a 2-D latent, DCGAN ({gan}), their evaluation "
            "and figures"
        )
    if part == "roads":
        lr, u = s.roads_logreg, s.roads_unet
        folds = u.get("folds", 5)
        unet = f"{u['train_folds']} of {folds} folds" if u.get("train_folds") else f"{folds} folds"
        if "epochs" in u:
            unet += f", {_epochs(u['epochs'])}"
        return (
            f"logistic-regression baseline ({lr.get('folds', 5)}-fold CV), U-Net ({unet}), "
            "test predictions with overlays, submission"
        )
    if part == "cosmo":
        n = sum(s.cosmo_sim.get(k, d) for k, d in
                (("n_labeled", 1200), ("n_scored", 9600), ("n_query", 1200)))  # fmt: skip
        return f"simulate {n:,} images (unless --cosmo-data), extract features, classify, regress"
    raise KeyError(part)


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def run_demo(cfg: DemoConfig) -> DemoResult:
    """Run `cfg.parts` (in PARTS order); every finished step is reused on the next call."""
    unknown = [p for p in cfg.parts if p not in PARTS]
    if unknown:
        raise CilabError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out, cfg.scale.name)
    ctx = Ctx(cfg, ledger)
    statuses: dict[str, str] = {}
    for part in PARTS:
        record = ledger.part(part)
        if part not in cfg.parts:
            if record.get("status") == "skipped":
                record["message"] = "not selected (--only/--skip)"
            continue
        print(f"== {part}: {describe(part, cfg.scale)} -> {out / part}", flush=True)
        start = time.perf_counter()
        record.pop("message", None)
        try:
            metrics = PART_FUNCTIONS[part](ctx)
            record["status"] = "done"
        except MissingData as e:
            record["status"] = "missing-data"
            record["message"] = str(e)
            print(f"cilab: {part}: skipped, data missing: {e}", flush=True)
            metrics = None
        except KeyboardInterrupt:
            record["status"] = "interrupted"
            _finish(ledger, part, start, None)
            statuses[part] = "interrupted"
            print(
                f"cilab: interrupted in {part}; run the same `cilab demo` again to continue "
                "(finished steps are reused, the interrupted one resumes)",
                file=sys.stderr,
            )
            return DemoResult(out, statuses, 130)
        except CilabError as e:
            record["status"] = "failed"
            record["message"] = str(e)
            print(f"cilab: error: {part}: {e}", flush=True)
            metrics = None
        _finish(ledger, part, start, metrics)
        statuses[part] = record["status"]
    ledger.save()
    print(summary(ledger))
    code = 1 if "failed" in statuses.values() else 0
    return DemoResult(out, statuses, code)


def _finish(ledger: Ledger, part: str, start: float, metrics: dict[str, Any] | None) -> None:
    """The part's record: totals over its steps, the commands, the metrics."""
    record = ledger.part(part)
    if record["status"] == "done":
        ledger.prune(part)
    runs = record.get("runs", {})
    touched = ledger.touched.get(part, {})
    steps = [k for k in touched if k in runs] + [k for k in runs if k not in touched]
    record["steps"] = steps
    record["scale"] = ledger.scale
    record["run_seconds"] = round(time.perf_counter() - start, 1)
    record["seconds"] = round(sum(runs[k].get("seconds", 0.0) for k in steps), 1)
    record["config_hash"] = config_hash({k: runs[k]["config_hash"] for k in steps})
    record["commands"] = [runs[k]["command"] for k in steps if runs[k].get("command")]
    record["reused"] = record["status"] == "done" and bool(touched) and all(touched.values())
    if metrics is not None:
        record["metrics"] = metrics
    ledger.save()


def summary(ledger: Ledger) -> str:
    """The closing table: per part its status, compute time (reused runs too), time now, folder."""
    lines = [f"{'part':<8} {'status':<13} {'compute':>9} {'now':>8}  where"]
    for part in PARTS:
        r = ledger.parts.get(part, {})
        status = r.get("status", "skipped") + (" (reused)" if r.get("reused") else "")
        comp = f"{r['seconds']:.0f} s" if "seconds" in r else "-"
        now = f"{r['run_seconds']:.0f} s" if "run_seconds" in r else "-"
        lines.append(f"{part:<8} {status:<13} {comp:>9} {now:>8}  {ledger.out / part}")
    lines.append(f"summary: {ledger.path}")
    return "\n".join(lines)
