"""Flags shared by every command that trains or evaluates, so they are spelled one way."""

from __future__ import annotations

import argparse

from cilab.core.device import DEVICE_CHOICES


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """`--seed` and `--device`, identical on every command."""
    parser.add_argument(
        "--seed", type=int, default=argparse.SUPPRESS, help="random seed (default: 0)"
    )
    add_device_flag(parser, default=argparse.SUPPRESS)


def add_device_flag(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """`--device`; commands without a saved config (eval, predict, demo) default to auto, the
    configured ones leave it out of the namespace unless typed (SUPPRESS)."""
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=default,
        help="where to compute: auto picks CUDA when present (default: auto)",
    )
