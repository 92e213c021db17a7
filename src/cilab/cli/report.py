"""`cilab report RUNS_DIR --out DIR`: a static HTML report of every run under RUNS_DIR."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cilab report`, the HTML page of what a folder of runs holds."""
    p = sub.add_parser(
        "report",
        help="a static HTML report of the runs under a folder (metrics, anchors, figures)",
        description=(
            "Find every cilab run under RUNS_DIR (gen, roads, cosmo, theory) and write DIR/"
            "index.html with copies of their figures: per part the key metrics next to their "
            "targets and anchors, the figures, training curves, the config and command of each "
            "run, and machine/time information. Opens from the file system; no server, no "
            "internet."
        ),
    )
    p.add_argument("runs_dir", metavar="RUNS_DIR", help="folder searched for runs (recursively)")
    p.add_argument(
        "--out", required=True, metavar="DIR",
        help="report folder (created; a previous report there is replaced)",
    )  # fmt: skip
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from cilab.report.build import build_report

    result = build_report(args.runs_dir, args.out)
    print(result.summary())
    return 0
