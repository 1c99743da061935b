"""Evaluate the module's own function environments with the real terraform binary, offline.

`terraform plan` of the module needs the google provider, which cannot be downloaded here. But the
environment of the two functions is plain Terraform: variables, locals and a few resource
attributes. So this builds a scratch configuration that Terraform evaluates without any provider:

- `variables.tf` of the module, copied as is (so the real types, defaults and validations apply);
- every local the environments, the ingest preconditions and the per-secret commands of
  next_steps need, with their text taken from the module unchanged, except that each resource
  reference `google_T.N` becomes `local.fake__T__N`;
- for each referenced resource, a stand-in with the attributes read from it, derived from that
  resource's own arguments the way the provider derives them (a topic's `id` is
  `projects/<project>/topics/<name>`); a resource with for_each becomes a map with its instances.

`terraform apply` of that configuration writes no infrastructure, only outputs (local state in a
temporary directory). What the tests then read is what the module would give the functions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import schema_check as sc
from tf_helpers import TERRAFORM, tool_or_skip

# The resources whose attributes the environments read, per type: the argument naming it, and the
# provider's format of its id from (project, that argument). A stand-in has only these two
# attributes: reading anything else, or another type, fails the harness loudly.
PROVIDER_IDS = {
    "google_pubsub_topic": {"argument": "name", "id": "projects/%s/topics/%s"},
    "google_secret_manager_secret": {"argument": "secret_id", "id": "projects/%s/secrets/%s"},
}
ENV_LOCALS = ("ingest_env", "forward_env")
# Further locals rendered as they are: the per-secret commands of the next_steps output.
STEP_LOCALS = ("pixel_token_steps", "webhook_signing_steps")
RESOURCE_REF = re.compile(r"(?<![\w.-])(google_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)(?![\w-])")
REQUIRED = {"project_id": "my-project", "region": "europe-west1", "pixel_id": "111111111111"}


@dataclass
class Result:
    ok: bool
    output: str  # terraform's messages (the validation errors when not ok)
    ingest_env: dict[str, str]
    forward_env: dict[str, str]
    preconditions: list[dict]  # {"ok": bool, "message": str}, in the module's order
    steps: dict[str, str]  # STEP_LOCALS by name

    def failed_preconditions(self) -> list[str]:
        return [p["message"] for p in self.preconditions if not p["ok"]]


def _fake_name(type_: str, name: str) -> str:
    return f"local.fake__{type_}__{name}"


def _replace_resources(text: str) -> str:
    return RESOURCE_REF.sub(lambda m: _fake_name(m.group(1), m.group(2)), text)


def ingest_preconditions(module: sc.Module) -> list[sc.Block]:
    ingest = module.resources["google_cloudfunctions2_function.ingest"]
    return [
        p for lc in ingest.body.blocks_of("lifecycle") for p in lc.body.blocks_of("precondition")
    ]


class Renderer:
    def __init__(self, module: sc.Module) -> None:
        self.module = module
        self.locals: dict[str, str] = {}
        self.fakes: dict[str, str] = {}
        self.preconditions = ingest_preconditions(module)
        pending = [
            sc.parse_hcl(f"x = local.{n}").attributes["x"].expr for n in ENV_LOCALS + STEP_LOCALS
        ]
        pending += [p.body.attributes["condition"].expr for p in self.preconditions]
        while pending:
            pending += self._visit(pending.pop())

    def _visit(self, expr: sc.Expr) -> list[sc.Expr]:
        more = []
        for ref in sc.references(expr):
            if ref.root == "local":
                name = ref.parts[1]
                if name not in self.locals:
                    local = self.module.locals[name]
                    self.locals[name] = _replace_resources(local.expr.text)
                    more.append(local.expr)
            elif ref.root in ("var", "each", "path", "count"):
                continue
            elif ref.root in sc.NON_RESOURCE_ROOTS:
                raise AssertionError(f"the render harness cannot evaluate {ref}")
            else:
                more += self._fake(ref)
        return more

    def _fake(self, ref: sc.Ref) -> list[sc.Expr]:
        type_, name = ref.parts[0], ref.parts[1]
        key = _fake_name(type_, name).removeprefix("local.")
        if key in self.fakes:
            return []
        assert type_ in PROVIDER_IDS, f"the render harness has no stand-in for {ref}"
        block = self.module.resources[f"{type_}.{name}"]
        spec = PROVIDER_IDS[type_]
        argument = block.body.attributes[spec["argument"]].expr
        text = _replace_resources(argument.text)
        for_each = block.body.attributes.get("for_each")
        if for_each is not None:
            text = re.sub(r"\beach\.key\b", "fake_key", text)
            text = re.sub(r"\beach\.value\b", "fake_value", text)
        instance = (
            f"{{ id = format({json.dumps(spec['id'])}, var.project_id, {text}), "
            f"{spec['argument']} = {text} }}"
        )
        if for_each is None:
            self.fakes[key] = instance
            return [argument]
        collection = _replace_resources(for_each.expr.text)
        self.fakes[key] = f"{{ for fake_key, fake_value in {collection} : fake_key => {instance} }}"
        return [argument, for_each.expr]

    def configuration(self) -> str:
        lines = ["locals {"]
        for name, text in sorted(self.locals.items()):
            lines.append(f"  {name} = {text}")
        for name, text in sorted(self.fakes.items()):
            lines.append(f"  {name} = {text}")
        lines.append("}")
        checks = ", ".join(
            f"{{ ok = {_replace_resources(p.body.attributes['condition'].expr.text)}, "
            f"message = {p.body.attributes['error_message'].expr.text} }}"
            for p in self.preconditions
        )
        lines += [
            'output "rendered" {',
            "  value = {",
            "    ingest_env    = local.ingest_env",
            "    forward_env   = local.forward_env",
            f"    preconditions = [{checks}]",
            "    steps = {",
            *(f"      {n} = local.{n}" for n in STEP_LOCALS),
            "    }",
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def render(self, directory: Path, variables: dict) -> Result:
        """Apply the scratch configuration with these variables (the module's required ones
        default to REQUIRED)."""
        terraform = tool_or_skip("terraform")
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(TERRAFORM / "variables.tf", directory / "variables.tf")
        (directory / "render.tf").write_text(self.configuration())
        (directory / "terraform.tfvars.json").write_text(json.dumps({**REQUIRED, **variables}))
        applied = apply(terraform, directory)
        messages = applied.stdout + applied.stderr
        if applied.returncode != 0:
            return Result(False, messages, {}, {}, [], {})
        out = run(terraform, directory, "output", "-json", "rendered")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        return Result(
            True,
            messages,
            data["ingest_env"],
            data["forward_env"],
            data["preconditions"],
            data["steps"],
        )


def run(terraform: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        # no version check against checkpoint.hashicorp.com; plain, automation-style messages
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
    )


def apply(terraform: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """No provider, no resource: this only evaluates the outputs (local state in `directory`)."""
    return run(terraform, directory, "apply", "-auto-approve", "-input=false", "-no-color", *args)


def evaluate(
    directory: Path, root: Path, expressions: dict[str, str], args: tuple[str, ...] = ()
) -> dict:
    """Evaluate expressions (name -> HCL text over var.*) as root configuration `root` would: with
    its variables.tf and its other files (tfvars, mapping files: file() reads them relative to the
    working directory), never its backend. For the arguments an example passes to the module."""
    terraform = tool_or_skip("terraform")
    directory.mkdir(parents=True, exist_ok=True)
    for path in root.iterdir():
        if path.is_file() and (path.suffix != ".tf" or path.name == "variables.tf"):
            shutil.copy(path, directory / path.name)
    body = "\n".join(f"    {name} = {text}" for name, text in expressions.items())
    (directory / "evaluate.tf").write_text(f'output "values" {{\n  value = {{\n{body}\n  }}\n}}\n')
    applied = apply(terraform, directory, *args)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    out = run(terraform, directory, "output", "-json", "values")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
