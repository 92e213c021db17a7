"""The demo's four parts; each is a few steps, and each step is one run of one cilab command.

Every step goes through `Ledger.step`, which reuses, resumes or reruns it by its config hash.
A part returns its key metrics; `MissingData` says the part's data is absent (the demo goes on).
"""

from __future__ import annotations

from cilab.demo.parts.cosmo import cosmo
from cilab.demo.parts.gen import gen
from cilab.demo.parts.roads import roads
from cilab.demo.parts.theory import theory

PART_FUNCTIONS = {"theory": theory, "gen": gen, "roads": roads, "cosmo": cosmo}
