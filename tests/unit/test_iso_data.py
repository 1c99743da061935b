"""capi.meta.iso_data is what scripts/generate_iso_data.py writes from the installed pycountry, and
the relay reads countries, states and currencies exactly as it did when it loaded pycountry at run
time (pycountry is a development dependency only)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pycountry
import pytest

from capi.meta import iso_data, normalize
from capi.meta.normalize import NormalizationError, normalize_country, normalize_state
from capi.meta.validate import check_and_prepare

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_iso_data", ROOT / "scripts" / "generate_iso_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_file_is_what_the_script_writes_from_pycountry():
    on_disk = (ROOT / "capi" / "meta" / "iso_data.py").read_text(encoding="utf-8")
    assert on_disk == _generator().render(), (
        "capi/meta/iso_data.py is stale: run .venv/bin/python scripts/generate_iso_data.py"
    )


def test_every_pycountry_country_reads_by_code_and_names():
    for entry in pycountry.countries:
        code = entry.alpha_2.lower()
        assert normalize_country(entry.alpha_2) == code
        assert normalize_country(entry.alpha_3.lower()) == code
        for name in (
            entry.name,
            getattr(entry, "official_name", None),
            getattr(entry, "common_name", None),
        ):
            if name and normalize._fold(name) not in normalize._COUNTRY_ALIASES:
                assert normalize_country(name) == code, name


def _country_table_from_pycountry() -> dict[str, str]:
    """The table as the relay built it from pycountry before the generated module (same steps)."""
    fold = normalize._fold
    table: dict[str, str] = {}
    for entry in pycountry.countries:
        code = entry.alpha_2.lower()
        for name in (
            getattr(entry, "official_name", None),
            getattr(entry, "common_name", None),
            entry.name,
        ):
            if name:
                table[fold(name)] = code
                if ", " in name:
                    head, _, tail = name.partition(", ")
                    table[fold(f"{tail} {head}")] = code
        table[entry.alpha_3.lower()] = code
    table.update(normalize._COUNTRY_ALIASES)
    for entry in pycountry.countries:
        table[entry.alpha_2.lower()] = entry.alpha_2.lower()
    return table


def test_country_table_equals_the_one_built_from_pycountry():
    assert normalize._country_table() == _country_table_from_pycountry()


@pytest.mark.parametrize("country", ["US", "CA"])
def test_every_subdivision_reads_by_code_and_name(country):
    subdivisions = list(pycountry.subdivisions.get(country_code=country))
    assert len(subdivisions) == len(iso_data.SUBDIVISIONS[country])
    for sub in subdivisions:
        code = sub.code.split("-", 1)[1].lower()
        assert normalize_state(code.upper(), country) == code
        assert normalize_state(sub.name, country) == code
    with pytest.raises(NormalizationError):
        normalize_state("Atlantis", country)


def test_currencies_are_pycountry_currencies():
    assert frozenset(c.alpha_3 for c in pycountry.currencies) == iso_data.CURRENCIES
    event = {
        "event_name": "Purchase",
        "event_time": 1_700_000_000,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "user_data": {
            "em": "a@example.com",
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "x",
        },
        "custom_data": {"value": 1, "currency": "XTS"},
    }
    for currency in sorted(iso_data.CURRENCIES):
        event["custom_data"]["currency"] = currency.lower()
        _, errors, _ = check_and_prepare(event, now=1_700_000_100)
        assert not [e for e in errors if "currency" in e.path], currency
    event["custom_data"]["currency"] = "ABC"
    _, errors, _ = check_and_prepare(event, now=1_700_000_100)
    assert [e for e in errors if e.path == "custom_data.currency"]


def test_the_relay_does_not_import_pycountry():
    code = (
        "import sys\n"
        "from capi.meta.normalize import normalize_country, normalize_state\n"
        "import capi.meta.validate\n"
        "normalize_country('Germany'); normalize_state('Ontario', 'CA')\n"
        "assert 'pycountry' not in sys.modules, 'pycountry imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
