"""The cut of the google provider schema kept in the repository (tests/terraform/tfcli.py) is
exactly the full schema's entries for every type the module uses."""

from __future__ import annotations

import json

import pytest
from tfcli import FULL_GOOGLE_SCHEMA, GOOGLE_SCHEMA, module_types, render_cut


def test_the_cut_holds_every_type_the_module_uses():
    schema = json.loads(GOOGLE_SCHEMA.read_text())
    missing = [(k, t) for k, t in module_types() if t not in schema[k]]
    assert missing == [], f"run `python tests/terraform/tfcli.py` to add {missing}"


def test_the_cut_is_the_full_schema_for_those_types():
    if not FULL_GOOGLE_SCHEMA.exists():
        pytest.skip(f"the full schema is not beside the clone: {FULL_GOOGLE_SCHEMA}")
    expected = render_cut(json.loads(FULL_GOOGLE_SCHEMA.read_text()))
    assert GOOGLE_SCHEMA.read_text() == expected, "run `python tests/terraform/tfcli.py`"
