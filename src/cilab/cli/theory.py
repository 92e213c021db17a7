"""`cilab theory check`: verify the variational-inference identities numerically.

Prints one row per check (value, tolerance, PASS/FAIL) and exits 1 if any check fails, so the
command can gate CI as well as teach.
"""

from __future__ import annotations

import argparse

from cilab.theory.checks import DEFAULT_SAMPLES, format_results, results_json, timed_run_checks


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `theory` area with its `check` subcommand."""
    area = subparsers.add_parser(
        "theory",
        help="numerical checks of the VAE / variational-inference theory",
        description="Numerical checks of the VAE / variational-inference theory.",
    )
    sub = area.add_subparsers(dest="theory_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser(
        "check",
        help="run every check and print a table; exit 1 if any fails",
        description=(
            "Check closed-form KLs, log p(x) = ELBO + KL, the ELBO's maximum, the "
            "importance-weighted bound and the gradient estimators against exact values or "
            "Monte Carlo (within 5 standard errors)."
        ),
    )
    check.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    check.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"Monte Carlo draws per check (default: {DEFAULT_SAMPLES})",
    )
    check.add_argument(
        "--out", default=None, metavar="FILE.json", help="also write the table as JSON here"
    )
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Print the numerical checks' table; exit status 1 if any failed, so CI can gate on it."""
    results, elapsed = timed_run_checks(seed=args.seed, samples=args.samples)
    print(format_results(results, elapsed))
    if args.out:
        from cilab.core.io import write_json

        write_json(args.out, results_json(results, elapsed, args.seed, args.samples))
        print(f"wrote {args.out}")
    return 0 if all(r.passed for r in results) else 1
