"""Every package of the relay is shipped by a non-editable install (regression: capi.sources was
left out when pyproject listed only "capi")."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_all_capi_packages_are_included():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = set(find_packages(str(ROOT), include=include))
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "capi").rglob("__init__.py")
    }
    assert on_disk <= shipped
    assert {"capi", "capi.sources"} <= shipped


def test_runtime_requirements_cover_what_the_package_imports():
    requirements = (ROOT / "requirements.txt").read_text().lower()
    for distribution in (
        "functions-framework",
        "google-cloud-pubsub",
        "google-cloud-secret-manager",
        "requests",
        "phonenumberslite",
        "pyyaml",
    ):
        assert distribution in requirements


def _names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith(("-", " ")):
            names.add(line.split("==")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower())
    return names


def test_phonenumbers_comes_as_the_lite_distribution_only():
    """phonenumberslite has the same import name as phonenumbers without 20 MB of geocoder and
    carrier data; with both installed they overwrite each other's files."""
    for path in ("requirements.txt", "requirements-dev.txt", "requirements-ci.lock"):
        names = _names(ROOT / path)
        assert "phonenumbers" not in names, path
    assert "phonenumberslite" in _names(ROOT / "requirements-ci.lock")


def test_pycountry_is_not_a_runtime_dependency():
    """The ISO tables are generated into capi/meta/iso_data.py; pycountry is for development."""
    assert "pycountry" not in _names(ROOT / "requirements.txt")
    assert "pycountry" in _names(ROOT / "requirements-dev.txt")
