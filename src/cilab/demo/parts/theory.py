"""The demo's theory part: the variational-inference identities checked numerically."""

from __future__ import annotations

from typing import Any

from cilab.core.errors import CilabError
from cilab.demo.context import Ctx


def theory(ctx: Ctx) -> dict[str, Any]:
    """Run the checks into theory/checks.json; a failed check fails the part (`CilabError`)."""
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
