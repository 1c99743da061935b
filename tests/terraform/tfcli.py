"""The real Terraform CLI, offline: schema-only stand-in providers (standin_provider/provider.py)
installed in a filesystem mirror, and a CLI configuration that makes `terraform init` take them
from there. Used by test_tf_validate.py; the tools environment with the `tf` package is made by
the Makefile (`make .venv-tf/bin/python`, run by `make test`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tf_helpers import HERE, REPO, tool_or_skip

# The hashicorp/google 6.50.0 schema (`terraform providers schema -json`), cut to the resource
# and data-source types the module uses, so that a clone alone runs the checks.
# `python tests/terraform/tfcli.py FULL_SCHEMA.json` rewrites it from the provider's full schema
# when the module starts using a new type (test_tf_schema.py says when).
GOOGLE_SCHEMA = HERE / "google-provider-6.50.0-schema.json"
STANDIN = HERE / "standin_provider"
TOOLS_PYTHON = REPO / ".venv-tf" / "bin" / "python"
PLATFORM = "linux_amd64"
# The versions the mirror offers: inside the module's constraints (google and google-beta >= 6.50.0
# < 8, archive >= 2.4 < 3, time >= 0.9 < 1), and the versions terraform/examples/production's lock
# file pins.
PROVIDERS = {"google": "6.50.0", "google-beta": "6.50.0", "archive": "2.7.1", "time": "0.13.1"}

# The provider block's own arguments (not in the shared schema file): the ones google's provider
# documents for its configuration, all optional.
GOOGLE_PROVIDER_BLOCK = {
    "block": {
        "attributes": {
            name: {"type": kind, "optional": True, **({"sensitive": True} if secret else {})}
            for name, kind, secret in (
                ("project", "string", False),
                ("region", "string", False),
                ("zone", "string", False),
                ("credentials", "string", True),
                ("access_token", "string", True),
                ("impersonate_service_account", "string", False),
                ("billing_project", "string", False),
                ("user_project_override", "bool", False),
                ("request_timeout", "string", False),
                ("default_labels", ["map", "string"], False),
                ("add_terraform_attribution_label", "bool", False),
                ("universe_domain", "string", False),
            )
        }
    }
}


@dataclass(frozen=True)
class Terraform:
    binary: str
    env: dict[str, str]

    def run(self, directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args],
            cwd=directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _schema(name: str) -> dict:
    """The schema a stand-in serves: the cut of google's published schema, and for the other
    providers the few types the module uses, written from their documentation."""
    if name != "google":
        schema = json.loads((STANDIN / f"{name}-schema.json").read_text())
        if name == "google-beta":  # the same provider block as google's
            schema["provider_block"] = GOOGLE_PROVIDER_BLOCK
        return schema
    schema = json.loads(GOOGLE_SCHEMA.read_text())
    return {**schema, "provider_block": GOOGLE_PROVIDER_BLOCK}


def build_mirror(root: Path) -> Terraform:
    """A filesystem mirror holding the stand-ins, and the CLI configuration that uses it."""
    binary = tool_or_skip("terraform")
    if not TOOLS_PYTHON.exists():
        pytest.fail(
            f"{TOOLS_PYTHON} is missing: `make .venv-tf/bin/python` installs the stand-in "
            "provider's tools environment (make test does it)",
            pytrace=False,
        )
    mirror = root / "mirror"
    for name, version in PROVIDERS.items():
        target = mirror / "registry.terraform.io" / "hashicorp" / name / version / PLATFORM
        target.mkdir(parents=True, exist_ok=True)
        schema_file = target / "schema.json"
        schema_file.write_text(json.dumps(_schema(name)))
        executable = target / f"terraform-provider-{name}_v{version}"
        executable.write_text(
            f'#!/bin/sh\nexec "{TOOLS_PYTHON}" "{STANDIN / "provider.py"}" "{schema_file}" "$@"\n'
        )
        executable.chmod(0o755)
    config = root / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n'
        "}\n"
    )
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_PLUGIN_CACHE_DIR": "",
    }
    env.pop("TF_DATA_DIR", None)
    return Terraform(binary, env)


def copy_tree(destination: Path) -> Path:
    """A copy of terraform/ and of the function source it zips (main.py, requirements.txt, capi/),
    laid out as in the repository, without local state; returns the copy's terraform/."""
    ignore = shutil.ignore_patterns(
        ".terraform", "*.tfstate*", ".terraform.lock.hcl", "build", "__pycache__"
    )
    shutil.copytree(REPO / "terraform", destination / "terraform", ignore=ignore)
    shutil.copytree(REPO / "capi", destination / "capi", ignore=ignore)
    for name in ("main.py", "requirements.txt"):
        shutil.copy2(REPO / name, destination / name)
    return destination / "terraform"


def module_types() -> set[tuple[str, str]]:
    """("resource" or "data", type) for every google type the Terraform code declares (the
    google-beta-only types, served by their own stand-in, aside)."""
    beta = json.loads((STANDIN / "google-beta-schema.json").read_text())
    found = set()
    for path in (REPO / "terraform").rglob("*.tf"):
        found |= set(re.findall(r'^\s*(resource|data)\s+"(google_\w+)"', path.read_text(), re.M))
    return {(kind, name) for kind, name in found if name not in beta[kind]}


def schema_cut(full: dict) -> dict:
    """The full provider schema restricted to the module's types."""
    types = sorted(module_types())
    return {
        **{key: full[key] for key in ("provider", "version", "source")},
        "resource": {name: full["resource"][name] for kind, name in types if kind == "resource"},
        "data": {name: full["data"][name] for kind, name in types if kind == "data"},
    }


def render_cut(full: dict) -> str:
    return json.dumps(schema_cut(full), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/terraform/tfcli.py FULL_SCHEMA.json")
    source = Path(sys.argv[1])
    GOOGLE_SCHEMA.write_text(render_cut(json.loads(source.read_text())))
    print(f"wrote {GOOGLE_SCHEMA}", file=sys.stderr)
