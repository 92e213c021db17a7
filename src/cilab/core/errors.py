"""User-facing errors: the CLI prints them as one line and exits non-zero, never a traceback."""

from __future__ import annotations

from pathlib import Path


class CilabError(Exception):
    """Caused by the user's input or environment; the message says how to fix it."""


class DataError(CilabError):
    """A data file is missing, malformed or inconsistent.

    The message always names the file, so the user knows what to look at.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class TrainingDiverged(CilabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
