"""The module and each example against the google provider 6.50.0 schema (schema_check.py)."""

from __future__ import annotations

import pytest
import schema_check
from tf_helpers import EXAMPLES, TERRAFORM

# Types absent from the schema file that the configuration uses on purpose. Any other type missing
# from the file is a typo until shown otherwise, so it fails here (the checker prints a notice).
EXPECTED_NOTICE_TYPES = {"archive_file"}

DIRECTORIES = [TERRAFORM, *EXAMPLES]


@pytest.mark.parametrize(
    "directory", DIRECTORIES, ids=lambda p: str(p.relative_to(TERRAFORM.parent))
)
def test_configuration_matches_provider_schema(checker, directory):
    report = checker.check(directory)
    print(report.render())
    assert report.ok, "\n".join(str(p) for p in report.problems)
    for notice in report.notices:
        assert any(t in notice.message for t in EXPECTED_NOTICE_TYPES), f"unexpected: {notice}"


def test_both_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"minimal", "production"}


def test_the_module_is_really_checked(checker):
    """Guard against a checker that silently checks nothing."""
    report = checker.check(TERRAFORM)
    assert report.counts.get("resources", 0) >= 30
    assert report.counts.get("arguments", 0) >= 200
    assert report.counts.get("attribute paths", 0) >= 20
    assert report.counts.get("references", 0) >= 200
    notices = " ".join(n.message for n in report.notices)
    assert "archive_file" in notices and "not in google-provider-6.50.0-schema.json" in notices


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        (">= 6.50.0, < 8.0.0", "6.50.0", True),
        (">= 6.50.0, < 8.0.0", "7.12.1", True),
        (">= 6.50.0, < 8.0.0", "6.49.9", False),
        (">= 6.50.0, < 8.0.0", "8.0.0", False),
        ("~> 6.50", "6.99.0", True),
        ("~> 6.50", "7.0.0", False),
        ("~> 6.50.0", "6.51.0", False),
        ("= 7.1.0", "7.1.0", True),
        ("!= 7.1.0", "7.1.0", False),
    ],
)
def test_version_constraints(constraint, version, expected):
    assert schema_check.version_matches(constraint, version) is expected


def test_command_line(capsys):
    assert schema_check.main([str(TERRAFORM), *map(str, EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "checked:" in out and "notice:" in out and "OK" in out
