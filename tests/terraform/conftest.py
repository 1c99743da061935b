"""Fixtures of the Terraform checks (tests/terraform)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # schema_check, tf_helpers

import schema_check
from tf_helpers import TERRAFORM


@pytest.fixture(scope="session")
def checker() -> schema_check.Checker:
    return schema_check.Checker()


@pytest.fixture(scope="session")
def module() -> schema_check.Module:
    mod = schema_check.load_module(TERRAFORM)
    assert not mod.parse_errors, mod.parse_errors
    return mod
