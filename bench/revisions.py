"""Measuring this tree against a git revision: each measurement runs in a child process whose
`capi` is imported from one tree (this checkout, or the revision extracted by
bench_normalize_process.baseline_tree), and prints its figures as JSON on its last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def trees(baseline: str) -> dict[str, str]:
    """ "now" -> this checkout, and the baseline revision -> its extracted tree (when given)."""
    found = {"now": str(ROOT)}
    if baseline:
        from bench_normalize_process import baseline_tree

        found[baseline] = str(baseline_tree(baseline))
    return found


def run_child(
    script: str, capi_root: str, args: list[str], env: dict[str, str] | None = None
) -> Any:
    """`script --child ARGS` with capi from `capi_root`; the JSON of its last output line."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args],
        env={**os.environ, "PYTHONPATH": capi_root, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def best_of_rounds(
    script: str, args: list[str], baseline: str, rounds: int = 2
) -> dict[str, dict[str, float]]:
    """Each tree's lowest figure per key over `rounds` alternating rounds."""
    contestants = trees(baseline)
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for name, tree in contestants.items():
            figures = run_child(script, tree, args)
            if name in best:
                figures = {k: min(v, best[name][k]) for k, v in figures.items()}
            best[name] = figures
    return best
