"""Flags shared by every command that trains or evaluates, so they are spelled one way."""

from __future__ import annotations

import argparse

from cilab.core.device import DEVICE_CHOICES


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """`--seed` and `--device`, identical on every command."""
    parser.add_argument(
        "--seed", type=int, default=argparse.SUPPRESS, help="random seed (default: 0)"
    )
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=argparse.SUPPRESS,
        help="where to compute: auto picks CUDA when present (default: auto)",
    )
