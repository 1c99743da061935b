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
        "phonenumbers",
        "pycountry",
        "pyyaml",
    ):
        assert distribution in requirements
