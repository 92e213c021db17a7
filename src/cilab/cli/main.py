"""The `cilab` command: parses arguments and dispatches to one area module per subcommand.

Each area module (`cilab.cli.gen`, `cilab.cli.theory`, ...) exposes `register(subparsers)`,
which adds its commands and sets `handler` to a function `(args) -> int`. The CLI stays thin:
handlers build a config and call the library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cilab import __version__
from cilab.core.errors import CilabError

AREAS = ("gen", "theory", "demo", "cosmo", "roads", "report")


def build_parser() -> argparse.ArgumentParser:
    """The `cilab` parser: each area (gen, roads, cosmo, ...) registers its own subcommands.

    Areas are imported by name so that `cilab --help` stays the one place listing them all.
    """
    parser = argparse.ArgumentParser(
        prog="cilab",
        description="The ETH Computational Intelligence Lab's exercises as fast, tested software.",
    )
    parser.add_argument("--version", action="version", version=f"cilab {__version__}")
    sub = parser.add_subparsers(dest="area", metavar="COMMAND", required=True)
    import importlib

    for area in AREAS:
        importlib.import_module(f"cilab.cli.{area}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a `CilabError` becomes a one-line message and exit status 2, Ctrl-C 130.

    Library code raises `CilabError` for bad input so users never see a raw traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CilabError as e:
        print(f"cilab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cilab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
