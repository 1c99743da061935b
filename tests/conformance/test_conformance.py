"""The relay's normalization against the published test vectors of Meta's own libraries (issue 14).

Every vector of tests/conformance/vectors/ goes through the path ingest uses for user_data
(capi.meta.user_data.prepare_user_data, no country, no date order) and is compared by its
SHA-256: the library's normalized value hashed, or "dropped" when the library returns nothing.
Agreement per source and field is printed (`pytest -s tests/conformance`). Each disagreement must
be one of the documented differences (tests/conformance/differences.py, docs/NORMALIZATION.md),
and each documented difference must still be exercised.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from capi.meta.user_data import is_sha256, prepare_user_data
from tests.conformance.differences import DIFFERENCES, SOURCES, explain

VECTORS = Path(__file__).resolve().parent / "vectors"


def sources() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(VECTORS.glob("*.json"))}


def wanted(expected: str | None) -> str | None:
    """The hash the library's value stands for (a hash it passed through, lowercased)."""
    if expected in (None, ""):
        return None
    if is_sha256(expected.strip()):
        return expected.strip().lower()
    return hashlib.sha256(expected.encode()).hexdigest()


def ours(field: str, raw: str) -> str | None:
    prepared, _ = prepare_user_data({field: raw})
    value = prepared.get(field)
    return value[0] if isinstance(value, list) else value


def outcomes():
    for name, source in sources().items():
        for vector in source["vectors"]:
            field, raw, expected = vector["field"], vector["input"], vector["expected"]
            got = ours(field, raw)
            if got == wanted(expected):
                yield name, field, vector, "agree"
                continue
            kind = "dropped" if got is None else "hashed"
            difference = explain(field, raw, expected, kind)
            yield name, field, vector, difference.name if difference else None


def test_every_disagreement_is_a_documented_difference():
    agree: Counter = Counter()
    checked: Counter = Counter()
    used: Counter = Counter()
    unexplained = []
    for name, field, vector, outcome in outcomes():
        checked[name, field] += 1
        if outcome == "agree":
            agree[name, field] += 1
        elif outcome is None:
            unexplained.append((field, vector["input"][:80], vector["expected"], vector["test"]))
        else:
            used[outcome] += 1
    for name, field in sorted(checked):
        print(f"{name:32s} {field:12s} {agree[name, field]:5d} / {checked[name, field]:5d}")
    total_agree, total = sum(agree.values()), sum(checked.values())
    print(f"{'all':45s} {total_agree:5d} / {total:5d} ({100 * total_agree / total:.1f}%)")
    print("documented differences:", dict(used.most_common()))
    assert unexplained == [], unexplained[:15]
    unused = {d.name for d in DIFFERENCES} - set(used)
    assert not unused, f"documented differences no vector exercises any more: {unused}"


def test_the_vectors_carry_their_source():
    for name, source in sources().items():
        meta = source["source"]
        assert meta["repository"].startswith("https://github.com/"), name
        assert len(meta["commit"]) == 40, name
        assert all({"field", "input", "expected", "test"} <= set(v) for v in source["vectors"])


@pytest.mark.parametrize("difference", DIFFERENCES, ids=lambda d: d.name)
def test_each_difference_names_its_rule_its_source_and_an_example(difference):
    assert difference.rule and difference.why and "->" in difference.example
    assert SOURCES.get(difference.name), difference.name


def test_no_source_names_a_retired_difference():
    assert set(SOURCES) == {d.name for d in DIFFERENCES}


def test_the_documentation_lists_every_difference():
    text = (Path(__file__).resolve().parents[2] / "docs" / "NORMALIZATION.md").read_text()
    for difference in DIFFERENCES:
        assert f"`{difference.name}`" in text, difference.name
