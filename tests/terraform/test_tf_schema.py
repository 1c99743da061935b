"""The cut of the google provider schema kept in the repository (tests/terraform/tfcli.py) holds
every type the module uses. It is rewritten from the provider's full published schema with
`python tests/terraform/tfcli.py FULL_SCHEMA.json` when the module starts using a new type; the
comparison with the full schema that used to run here needed a file beside the clone, so every
user skipped it, and it is gone."""

from __future__ import annotations

import json

from tfcli import GOOGLE_SCHEMA, module_types


def test_the_cut_holds_every_type_the_module_uses():
    schema = json.loads(GOOGLE_SCHEMA.read_text())
    missing = [(k, t) for k, t in module_types() if t not in schema[k]]
    assert missing == [], f"run `python tests/terraform/tfcli.py FULL_SCHEMA.json` to add {missing}"
