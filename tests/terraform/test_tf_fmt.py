"""terraform fmt: the configuration is formatted (this also proves it parses as HCL)."""

from __future__ import annotations

import subprocess

from tf_helpers import REPO, tool_or_skip


def test_terraform_fmt_check_recursive():
    terraform = tool_or_skip("terraform")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "terraform"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        "terraform fmt -check failed; run `terraform fmt -recursive terraform`\n"
        f"{result.stdout}\n{result.stderr}"
    )
