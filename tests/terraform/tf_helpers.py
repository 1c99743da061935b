"""Paths and helpers shared by the Terraform checks (named uniquely: tests/ has no __init__.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TERRAFORM = REPO / "terraform"
EXAMPLES = sorted(p for p in (TERRAFORM / "examples").iterdir() if p.is_dir())


def tool_or_skip(name: str, *candidates: Path) -> str:
    """Path of a command-line tool. Missing: fail under CI=true, skip otherwise."""
    found = shutil.which(name)
    for candidate in candidates:
        if not found and candidate.exists():
            found = str(candidate)
    if found:
        return found
    message = f"{name} is not installed (not on PATH)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(f"{message}; install it to run this check (under CI=true it fails instead)")
    raise AssertionError("unreachable")
