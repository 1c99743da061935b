"""The schema checker itself: it must reject broken configurations (a checker that passes
everything proves nothing) and accept a correct one."""

from __future__ import annotations

import textwrap

import pytest
import schema_check

VERSIONS = """
terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.50.0, < 8.0.0"
    }
  }
}
"""

VALID = """
variable "project_id" {
  description = "Project."
  type        = string
}

locals {
  name = "events"
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_pubsub_topic" "t" {
  project = var.project_id
  name    = local.name
  labels = {
    number = data.google_project.this.number
  }
}

resource "google_pubsub_subscription" "s" {
  count   = 2
  name    = "s-${count.index}"
  topic   = google_pubsub_topic.t.id
  filter  = <<-EOT
    attributes.kind = "${google_pubsub_topic.t.name}"
  EOT

  dynamic "push_config" {
    for_each = toset(["https://example.com/"])
    content {
      push_endpoint = push_config.value
      oidc_token {
        service_account_email = "a@b.iam.gserviceaccount.com"
      }
    }
  }

  expiration_policy {
    ttl = ""
  }
}

output "first" {
  description = "A subscription."
  value       = [for s in google_pubsub_subscription.s : s.name][0]
}

output "second" {
  description = "Another."
  value       = google_pubsub_subscription.s[1].push_config[0].push_endpoint
}
"""


def run(tmp_path, hcl: str, versions: str = VERSIONS) -> schema_check.Report:
    (tmp_path / "main.tf").write_text(textwrap.dedent(hcl))
    (tmp_path / "versions.tf").write_text(versions)
    return schema_check.Checker().check(tmp_path)


def test_a_correct_configuration_passes(tmp_path):
    report = run(tmp_path, VALID)
    assert report.ok, report.render()
    assert report.counts["resources"] == 2 and report.counts["dynamic blocks"] == 1


TOPIC = 'resource "google_pubsub_topic" "t" {{\n  name = "t"\n{}\n}}\n'
SUB = 'resource "google_pubsub_subscription" "s" {{\n  name  = "s"\n  topic = "t"\n{}\n}}\n'
FUNC = 'resource "google_cloudfunctions2_function" "f" {{\n  name = "f"\n  location = "r"\n{}\n}}\n'

BROKEN = {
    "unknown argument": (TOPIC.format('  colour = "red"'), "unknown argument 'colour'"),
    "missing required argument": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n}\n',
        "required argument 'topic' is missing",
    ),
    "missing required nested argument": (
        SUB.format("  push_config {\n    attributes = {}\n  }"),
        "push_config: required argument 'push_endpoint' is missing",
    ),
    "unknown block": (TOPIC.format("  retry_policy {\n  }"), "unknown block type 'retry_policy'"),
    "unknown nested block": (
        FUNC.format("  service_config {\n    scaling {\n    }\n  }"),
        "service_config: unknown block type 'scaling'",
    ),
    "too many blocks": (
        SUB.format(
            '  push_config {\n    push_endpoint = "a"\n  }\n'
            '  push_config {\n    push_endpoint = "b"\n  }'
        ),
        "2 push_config blocks, at most 1 allowed",
    ),
    "static plus dynamic blocks over the limit": (
        SUB.format(
            '  push_config {\n    push_endpoint = "a"\n  }\n'
            '  dynamic "push_config" {\n    for_each = [1]\n'
            '    content {\n      push_endpoint = "b"\n    }\n  }'
        ),
        "push_config given by 1 block(s) and 1 dynamic block(s), at most 1 allowed",
    ),
    "too few blocks": (
        'resource "google_secret_manager_secret" "s" {\n  secret_id = "s"\n}\n',
        "needs at least 1 replication block(s), found 0",
    ),
    "argument used as a block": (
        TOPIC.format('  labels {\n    a = "b"\n  }'),
        "labels is an argument",
    ),
    "block used as an argument": (
        SUB.format("  push_config = {}"),
        "push_config is a nested block",
    ),
    "read-only attribute set": (
        'resource "google_service_account" "a" {\n  account_id = "a"\n  email = "x"\n}\n',
        "email is read-only",
    ),
    "deprecated argument": (
        'resource "google_storage_bucket_object" "o" {\n  bucket = "b"\n  name = "o"\n'
        '  detect_md5hash = "x"\n}\n',
        "detect_md5hash is deprecated",
    ),
    "argument removed in 7.x": (
        FUNC.format('  service_config {\n    service = "s"\n  }'),
        "service_config.service is read-only from google 7.0",
    ),
    "argument required in 7.x": (
        FUNC.format('  event_trigger {\n    pubsub_topic = "t"\n  }'),
        "event_trigger.event_type is required",
    ),
    "default changed in 7.x": (
        'resource "google_project_service" "a" {\n  service = "run.googleapis.com"\n}\n',
        "disable_on_destroy changed its default",
    ),
    "dynamic block of an unknown type": (
        TOPIC.format('  dynamic "nope" {\n    for_each = []\n    content {\n    }\n  }'),
        "unknown block type 'nope'",
    ),
    "dynamic block content is checked": (
        SUB.format(
            '  dynamic "push_config" {\n    for_each = [1]\n'
            "    content {\n      wrong = 1\n    }\n  }"
        ),
        "push_config: unknown argument 'wrong'",
    ),
    "undeclared variable": (TOPIC.format("  labels = { a = var.nope }"), "no variable 'nope'"),
    "undeclared local": (TOPIC.format('  kms_key_name = "${local.key}"'), "no local 'key'"),
    "undeclared resource": (
        SUB.replace('topic = "t"', "topic = google_pubsub_topic.missing.id").format(""),
        "no resource google_pubsub_topic.missing",
    ),
    "undeclared data source": (
        TOPIC.format("  labels = { n = data.google_project.nope.number }"),
        "no data source data.google_project.nope",
    ),
    "undeclared module": (TOPIC.format("  kms_key_name = module.kms.key"), "no module 'kms'"),
    "unknown attribute of a resource": (
        TOPIC.format("")
        + 'output "o" {\n  description = "o"\n  value = google_pubsub_topic.t.nmae\n}\n',
        "google_pubsub_topic has no attribute 'nmae'",
    ),
    "unknown nested attribute of a resource": (
        FUNC.format("")
        + 'output "o" {\n  description = "o"\n'
        + "  value = google_cloudfunctions2_function.f.service_config[0].url\n}\n",
        "has no attribute 'url'",
    ),
    "index missing on a counted resource": (
        TOPIC.format("  count = 2")
        + 'output "o" {\n  description = "o"\n  value = google_pubsub_topic.t.name\n}\n',
        "google_pubsub_topic.t needs an index",
    ),
    "count and for_each together": (
        TOPIC.format("  count = 1\n  for_each = {}"),
        "count and for_each are exclusive",
    ),
    "resource declared twice": (TOPIC.format("") + TOPIC.format(""), "declared twice"),
    "variable without description": (
        'variable "v" {\n  type = string\n}\n' + TOPIC.format("  kms_key_name = var.v"),
        "variable v has no description",
    ),
    "unused variable": (
        'variable "v" {\n  description = "v"\n  type = string\n}\n',
        "variable v is never used",
    ),
    "validation refers to another variable": (
        'variable "a" {\n  description = "a"\n  type = number\n'
        "  validation {\n    condition = var.a < var.b\n"
        '    error_message = "no"\n  }\n}\n'
        'variable "b" {\n  description = "b"\n  type = number\n}\n'
        + TOPIC.format("  labels = { a = var.a, b = var.b }"),
        "only var.a may be used",
    ),
    "syntax error": (TOPIC.format('  name = "unterminated'), "cannot parse"),
    "unknown lifecycle argument": (
        TOPIC.format("  lifecycle {\n    prevent_destroyy = true\n  }"),
        "unknown lifecycle argument prevent_destroyy",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_the_checker_reports(tmp_path, case):
    hcl, expected = BROKEN[case]
    report = run(tmp_path, hcl)
    assert not report.ok, f"{case}: nothing reported\n{report.render()}"
    assert any(expected in p.message for p in report.problems), report.render()


def test_a_type_missing_from_the_schema_is_a_notice(tmp_path):
    report = run(tmp_path, 'resource "google_made_up_thing" "x" {\n  anything = 1\n}\n')
    assert [n for n in report.notices if "google_made_up_thing is not in" in n.message]
    assert "NOT checked" in report.render()


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (VERSIONS.replace(">= 6.50.0, < 8.0.0", "~> 6.50"), "rejects 7.0.0"),
        (VERSIONS.replace(">= 6.50.0, < 8.0.0", ">= 7.0"), "rejects 6.50.0"),
        (VERSIONS.replace(">= 6.50.0, < 8.0.0", ">= 6.50"), "admits the untested 8.x"),
        ("terraform {\n}\n", "does not declare google"),
    ],
)
def test_provider_version_constraint(tmp_path, versions, expected):
    report = run(tmp_path, TOPIC.format(""), versions=versions)
    assert any(expected in p.message for p in report.problems), report.render()


def test_module_calls_are_checked(tmp_path):
    child = tmp_path / "child"
    child.mkdir()
    (child / "variables.tf").write_text(
        'variable "needed" {\n  description = "n"\n  type = string\n}\n'
        'output "out" {\n  description = "o"\n  value = var.needed\n}\n'
    )
    (child / "versions.tf").write_text(VERSIONS)
    parent = tmp_path / "parent"
    parent.mkdir()
    report = run(
        parent,
        'module "c" {\n  source = "../child"\n  typo = 1\n}\n'
        'output "a" {\n  description = "a"\n  value = module.c.out\n}\n'
        'output "b" {\n  description = "b"\n  value = module.c.missing\n}\n',
    )
    messages = [p.message for p in report.problems]
    assert any("has no variable 'typo'" in m for m in messages), messages
    assert any("required variable needed not set" in m for m in messages), messages
    assert any("module c has no output 'missing'" in m for m in messages), messages
    assert not any("no output 'out'" in m for m in messages), messages


def test_parser_reads_templates_heredocs_and_comments():
    body = schema_check.parse_hcl(
        textwrap.dedent(
            """
            # comment
            a = "x-${var.b}-${upper("y-${local.c}")}" // trailing
            /* block
               comment */
            b = <<-EOT
              line ${data.t.n.attr}
              $${not_a_ref}
            EOT
            c {
              d = [for k, v in var.m : v.x if k != "z"]
            }
            e { f = 1 }
            """
        )
    )
    refs = {str(r) for a in body.attributes.values() for r in schema_check.references(a.expr)}
    assert refs == {"var.b", "local.c", "data.t.n.attr"}
    inner = body.blocks[0].body.attributes["d"].expr
    assert {str(r) for r in schema_check.references(inner)} == {"var.m"}
    assert schema_check.literal(body.blocks[1].body.attributes["f"].expr) == 1
    assert body.attributes["b"].line == 6
