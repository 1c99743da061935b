"""Debian's chromium, headless, for tests that look at the pages the relay makes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import missing

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing("chromium is needed for the page tests (.ci/run installs Debian's chromium)")
    return str(found)


def _run(url: str, *extra: str, budget_ms: int = 3000) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )


def rendered_dom(url: str, *, budget_ms: int = 3000) -> str:
    """The page's DOM after its scripts ran (chromium --dump-dom)."""
    return _run(url, "--dump-dom", budget_ms=budget_ms).stdout


def screenshot(url: str, target: Path, *, size: str = "1200,1400", budget_ms: int = 3000) -> Path:
    _run(url, f"--screenshot={target}", f"--window-size={size}", budget_ms=budget_ms)
    assert target.exists() and target.stat().st_size > 10_000, target
    return target
