"""Security properties of the stack, read from the HCL: who may invoke what, what each service
account may do and on which resource, and that no secret value is in the configuration.

The grant table below is the reviewed least-privilege design; a new grant must be added here
consciously (with the reason in iam.tf), or this test fails.
"""

from __future__ import annotations

import re

import pytest
import schema_check as sc
from tf_helpers import REPO, TERRAFORM

ACCESSOR = "roles/secretmanager.secretAccessor"
PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
INVOKER = "roles/run.invoker"
PUBSUB_AGENT = "local.pubsub_service_agent"
VERSION = "local.secret_version_suffix"

SA_INGEST = "google_service_account.ingest"
SA_FORWARD = "google_service_account.forward"
SA_PUSH = "google_service_account.push"
SA_BUILD = "google_service_account.build"

# The argument naming the resource a grant applies to, per IAM member type.
TARGET_ARG = {
    "google_pubsub_topic_iam_member": "topic",
    "google_pubsub_subscription_iam_member": "subscription",
    "google_secret_manager_secret_iam_member": "secret_id",
    "google_cloud_run_v2_service_iam_member": "name",
    "google_service_account_iam_member": "service_account_id",
    "google_kms_crypto_key_iam_member": "crypto_key_id",
    "google_storage_bucket_iam_member": "bucket",
    "google_artifact_registry_repository_iam_member": "repository",
    "google_project_iam_member": "project",
}

TOPIC_IAM = "google_pubsub_topic_iam_member"
SUB_IAM = "google_pubsub_subscription_iam_member"
SECRET_IAM = "google_secret_manager_secret_iam_member"
RUN_IAM = "google_cloud_run_v2_service_iam_member"
PROJECT_IAM = "google_project_iam_member"
SECRET = "google_secret_manager_secret."
FN_INGEST = "google_cloudfunctions2_function.ingest"
FN_FORWARD = "google_cloudfunctions2_function.forward"
TOPIC_EVENTS = "google_pubsub_topic.events"
TOPIC_DLQ = "google_pubsub_topic.dlq"

# (grant type, resource it applies to, role, member)
EXPECTED_GRANTS = {
    # ingest: publish events, read the API keys and the webhook signing secrets
    (TOPIC_IAM, TOPIC_EVENTS, PUBLISHER, SA_INGEST),
    (SECRET_IAM, SECRET + "api_keys", ACCESSOR, SA_INGEST),
    (SECRET_IAM, SECRET + "shopify_webhook_secret", ACCESSOR, SA_INGEST),
    (SECRET_IAM, SECRET + "stripe_webhook_secret", ACCESSOR, SA_INGEST),
    # ... and, one grant per secret (for_each), the signing secret of each generic webhook
    # mapping's secret_env (var.webhook_signing_secrets)
    (SECRET_IAM, SECRET + "webhook_signing", ACCESSOR, SA_INGEST),
    (RUN_IAM, FN_INGEST, INVOKER, "var.ingest_invoker_members"),
    # forward: publish permanent failures to the DLQ, read the Meta token and, one grant per
    # secret (for_each), the token secret of each additional pixel (var.pixels)
    (TOPIC_IAM, TOPIC_DLQ, PUBLISHER, SA_FORWARD),
    (SECRET_IAM, SECRET + "meta_token", ACCESSOR, SA_FORWARD),
    (SECRET_IAM, SECRET + "pixel_token", ACCESSOR, SA_FORWARD),
    # push subscription identity: invoke forward, nothing else
    (RUN_IAM, FN_FORWARD, INVOKER, SA_PUSH),
    # Pub/Sub service agent: dead-lettering, OIDC tokens, CMEK
    (TOPIC_IAM, TOPIC_DLQ, PUBLISHER, PUBSUB_AGENT),
    (SUB_IAM, "google_pubsub_subscription.push", SUBSCRIBER, PUBSUB_AGENT),
    ("google_service_account_iam_member", SA_PUSH,
     "roles/iam.serviceAccountTokenCreator", PUBSUB_AGENT),
    ("google_kms_crypto_key_iam_member", "var.kms_key_name",
     "roles/cloudkms.cryptoKeyEncrypterDecrypter", PUBSUB_AGENT),
    # builds of the function images
    (PROJECT_IAM, "var.project_id", "roles/logging.logWriter", SA_BUILD),
    (PROJECT_IAM, "var.project_id", "roles/storage.objectViewer", SA_BUILD),
    ("google_storage_bucket_iam_member", "google_storage_bucket.source",
     "roles/storage.objectViewer", SA_BUILD),
    ("google_artifact_registry_repository_iam_member",
     "google_artifact_registry_repository.functions", "roles/artifactregistry.writer", SA_BUILD),
    # optional operators of `capi replay`
    (SUB_IAM, "google_pubsub_subscription.dlq", SUBSCRIBER, "var.dlq_operators"),
    (TOPIC_IAM, TOPIC_EVENTS, PUBLISHER, "var.dlq_operators"),
}  # fmt: skip


def attr(block: sc.Block, *path: str) -> sc.Attribute | None:
    body = block.body
    for name in path[:-1]:
        inner = body.block(name)
        if inner is None:
            return None
        body = inner.body
    return body.attributes.get(path[-1])


def value(block: sc.Block, *path: str) -> object:
    a = attr(block, *path)
    assert a is not None, f"{block.address}: {'.'.join(path)} is not set"
    return sc.literal(a.expr)


def refs(block: sc.Block, *path: str) -> set[str]:
    a = attr(block, *path)
    return {r.target for r in sc.references(a.expr)} if a else set()


def describe(block: sc.Block, name: str) -> str:
    """What an argument points at: a literal, a declaration, or the collection for_each runs on."""
    a = attr(block, name)
    assert a is not None, f"{block.address}: {name} is not set"
    try:
        return str(sc.literal(a.expr))
    except sc.NotLiteral:
        pass
    targets = [r.target for r in sc.references(a.expr)]
    assert len(targets) == 1, f"{block.address}.{name} = {a.expr.text}: one reference expected"
    if targets[0] == "each.value":
        collection = sorted(refs(block, "for_each"))
        assert len(collection) == 1, block.address
        return collection[0]
    return targets[0]


def grants(module: sc.Module) -> dict[tuple[str, str, str, str], sc.Block]:
    found = {}
    for block in module.resources.values():
        type_ = block.labels[0]
        if not re.search(r"_iam_(member|binding|policy)$", type_):
            continue
        assert type_ in TARGET_ARG, f"{block.address}: unexpected IAM resource type"
        target = describe(block, TARGET_ARG[type_])
        key = (type_, target, str(value(block, "role")), describe(block, "member"))
        assert key not in found, f"{block.address} duplicates {found[key].address}"
        found[key] = block
    return found


def function(module: sc.Module, name: str) -> sc.Block:
    return module.resources[f"google_cloudfunctions2_function.{name}"]


def local_closure(module: sc.Module, targets: set[str]) -> set[str]:
    """The targets plus everything the locals among them refer to, through further locals."""
    result, pending = set(targets), [t for t in targets if t.startswith("local.")]
    while pending:
        for ref in sc.references(module.locals[pending.pop().split(".")[1]].expr):
            if ref.target not in result:
                result.add(ref.target)
                if ref.root == "local":
                    pending.append(ref.target)
    return result


# A variable per instance of a collection: `for name, x in C : "${name}_SUFFIX" => value`.
ENV_PER_KEY = re.compile(r'for (\w+), (\w+) in ([\w.]+) : "\$\{\1\}(_[A-Z_]+)" => (.*)$')


def per_key(collection: str, suffix: str) -> str:
    """How env() names the variables a for expression makes, one per key of the collection."""
    return f"<key of {collection}>{suffix}"


def env(module: sc.Module, name: str) -> dict[str, set[str]]:
    """Environment of a function: variable -> declarations its value refers to, directly or
    through locals (the locals included). Variables made per key of a collection by a for
    expression are named per_key(collection, suffix); the collection counts as referred to."""
    pending = [
        r.split(".")[1]
        for r in refs(function(module, name), "service_config", "environment_variables")
    ]
    result: dict[str, set[str]] = {}
    while pending:
        expr = module.locals[pending.pop()].expr
        for line in expr.text.splitlines():
            m = ENV_PER_KEY.search(line)
            if m:
                key, item, collection, suffix, text = m.groups()
                line_expr = sc.parse_hcl(f"x = {text.rstrip(',} ')}").attributes["x"].expr
                bound = frozenset({key, item})
                direct = {r.target for r in sc.references(line_expr, bound)} | {collection}
                result[per_key(collection, suffix)] = local_closure(module, direct)
                continue
            m = re.search(r"(CAPI_[A-Z_]+)\s*=\s*(.*)$", line)
            if m:
                text = m.group(2).rstrip(",} ")
                line_expr = sc.parse_hcl(f"x = {text}").attributes["x"].expr
                direct = {r.target for r in sc.references(line_expr)}
                result[m.group(1)] = local_closure(module, direct)
        pending += [
            r.parts[1]
            for r in sc.references(expr)
            if r.root == "local" and r.parts[1].endswith("_env")
        ]
    return result


# -------------------------------------------------------------------------------------------------


def test_grants_are_exactly_the_reviewed_least_privilege_table(module):
    found = set(grants(module))
    assert found - EXPECTED_GRANTS == set(), "grants nobody reviewed"
    assert EXPECTED_GRANTS - found == set(), "grants the design needs are missing"


def test_no_authoritative_iam_and_no_broad_roles(module):
    for block in module.resources.values():
        type_ = block.labels[0]
        assert not type_.endswith(("_iam_binding", "_iam_policy")), (
            f"{block.address}: authoritative IAM would remove grants made by others"
        )
    roles = {role for (_, _, role, _) in grants(module)}
    for role in roles:
        assert role not in {"roles/owner", "roles/editor", "roles/viewer"}, role
        assert "admin" not in role.lower(), role
        assert not role.endswith(".serviceAgent"), role
        assert role != "roles/iam.serviceAccountUser", role


def test_project_level_grants_are_only_build_logs_and_conditioned_source_reads(module):
    project = [b for (t, *_), b in grants(module).items() if t == "google_project_iam_member"]
    assert len(project) == 2
    for block in project:
        assert describe(block, "member") == SA_BUILD
        if value(block, "role") == "roles/storage.objectViewer":
            condition = attr(block, "condition", "expression")
            assert condition is not None, "project-wide object reads need a condition"
            assert 'startsWith(\\"projects/_/buckets/gcf-v2-sources-' in condition.expr.text
        else:
            assert value(block, "role") == "roles/logging.logWriter"


def test_public_access_only_on_ingest(module):
    public = re.compile(r"allUsers|allAuthenticatedUsers")
    # The only public member is the default of var.ingest_invoker_members ...
    for path in TERRAFORM.rglob("*.tf"):
        mod = sc.load_module(path.parent)
        for block in mod.blocks:
            text = "\n".join(a.expr.text for a in block.body.attributes.values())
            if block.type == "variable":
                if block.labels == ["ingest_invoker_members"] and path.parent == TERRAFORM:
                    assert value(block, "default") == ["allUsers"]
                    continue
                default = attr(block, "default")
                text = str(sc.literal_or(default.expr if default else None))
            assert not public.search(text), f"{path.name}: {block.address} is public"
    # ... and that variable feeds only the invoker grant of ingest.
    users = [
        b
        for b in module.resources.values()
        for a in b.body.attributes.values()
        if "var.ingest_invoker_members" in {r.target for r in sc.references(a.expr)}
    ]
    assert [b.address for b in users] == ["google_cloud_run_v2_service_iam_member.ingest_invoker"]
    assert describe(users[0], "name") == "google_cloudfunctions2_function.ingest"
    assert value(users[0], "role") == INVOKER


def test_operators_cannot_be_made_public(module):
    condition = module.variables["dlq_operators"].body.block("validation").body.attributes
    expected = "^(user|group|serviceAccount|domain|principal|principalSet):"
    assert expected in condition["condition"].expr.text


def test_forward_is_private_and_invoked_only_by_the_push_identity(module):
    forward = function(module, "forward")
    assert value(forward, "service_config", "ingress_settings") == "ALLOW_INTERNAL_ONLY"
    invokers = [k for k in grants(module) if k[1] == "google_cloudfunctions2_function.forward"]
    assert invokers == [(RUN_IAM, FN_FORWARD, INVOKER, SA_PUSH)]
    ingest = function(module, "ingest")
    assert value(ingest, "service_config", "ingress_settings") == "ALLOW_ALL"


def test_each_function_runs_as_its_own_service_account(module):
    accounts = {SA_INGEST, SA_FORWARD, SA_PUSH, SA_BUILD}
    assert set(module.resources_of("google_service_account")) == accounts
    for name, sa in (("ingest", SA_INGEST), ("forward", SA_FORWARD)):
        assert refs(function(module, name), "service_config", "service_account_email") == {sa}
    for name in ("ingest", "forward"):
        assert refs(function(module, name), "build_config", "service_account") == {SA_BUILD}
    # the push identity may do one thing: invoke forward
    assert {k for k in grants(module) if k[3] == SA_PUSH} == {
        (RUN_IAM, FN_FORWARD, INVOKER, SA_PUSH)
    }


def test_functions_read_secrets_at_runtime_not_through_mounts(module):
    for name in ("ingest", "forward"):
        service = function(module, name).body.block("service_config")
        assert service is not None
        assert not service.body.blocks_of("secret_environment_variables"), name
        assert not service.body.blocks_of("secret_volumes"), name
    assert sc.literal(module.locals["secret_version_suffix"].expr) == "versions/latest"


# CAPI_PIXELS, the same on both functions: the routing rendered from the three variables, naming
# the token secret (version) of each additional pixel.
PIXELS_ENV = {
    "local.pixels_config",
    "local.pixel_token_versions",
    "local.routing_entries",
    SECRET + "pixel_token",
    VERSION,
    "var.pixels",
    "var.key_pixels",
    "var.route_pixels",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "ingest",
            {
                "CAPI_PIXEL_ID": {"var.pixel_id"},
                "CAPI_PIXELS": PIXELS_ENV,
                "CAPI_GRAPH_VERSION": {"var.graph_api_version"},
                "CAPI_TOPIC": {"google_pubsub_topic.events"},
                "CAPI_API_KEYS_SECRET": {SECRET + "api_keys", VERSION},
                "CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET": {SECRET + "shopify_webhook_secret", VERSION},
                "CAPI_STRIPE_WEBHOOK_SECRET_SECRET": {SECRET + "stripe_webhook_secret", VERSION},
                "CAPI_SHOPIFY_TOPICS": {"var.shopify_topics"},
                # <NAME>_SECRET for each NAME of var.webhook_signing_secrets: its secret's version
                per_key(SECRET + "webhook_signing", "_SECRET"): {
                    SECRET + "webhook_signing",
                    VERSION,
                },
                "CAPI_TEST_EVENT_CODE": {"var.test_event_code"},
                "CAPI_DEFAULT_COUNTRY": {"var.default_country"},
                "CAPI_WEBHOOK_MAPPINGS": {"var.webhook_mappings"},
                "CAPI_CONSENT_POLICY": {"var.consent_policy"},
                "CAPI_LDU_STATES": {"var.ldu_states"},
            },
        ),
        (
            "forward",
            {
                "CAPI_PIXEL_ID": {"var.pixel_id"},
                "CAPI_PIXELS": PIXELS_ENV,
                "CAPI_GRAPH_VERSION": {"var.graph_api_version"},
                "CAPI_DLQ_TOPIC": {"google_pubsub_topic.dlq"},
                "CAPI_ACCESS_TOKEN_SECRET": {SECRET + "meta_token", VERSION},
                "CAPI_MAX_DELIVERY_ATTEMPTS": {"var.max_delivery_attempts"},
                "CAPI_ACK_DEADLINE": {"var.forward"},
                "CAPI_GRAPH_TIMEOUT": {"var.forward"},
                "CAPI_SECRET_TIMEOUT": {"var.forward"},
                "CAPI_PUBLISH_TIMEOUT": {"var.forward"},
                "CAPI_TEST_EVENT_CODE": {"var.test_event_code"},
                "CAPI_DEFAULT_COUNTRY": {"var.default_country"},
            },
        ),
    ],
)
def test_function_environment_matches_the_contract(module, name, expected):
    assert env(module, name) == expected


# The variables whose secrets a function reads: its *_SECRET variables, and for forward the
# token_secret of each pixel in CAPI_PIXELS. ingest gets the same CAPI_PIXELS but only routes with
# it: the token secrets it names are not read by ingest, so not granted to it.
READS_SECRETS = {
    "ingest": lambda variable: variable.endswith("_SECRET"),
    "forward": lambda variable: variable.endswith("_SECRET") or variable == "CAPI_PIXELS",
}


@pytest.mark.parametrize("name", ["ingest", "forward"])
def test_every_secret_and_topic_a_function_uses_is_granted_to_it_and_nothing_more(module, name):
    sa = f"google_service_account.{name}"
    environment = env(module, name)
    used = set().union(*environment.values())
    read = set().union(*(refs for v, refs in environment.items() if READS_SECRETS[name](v)))
    used_secrets = {r for r in read if r.startswith("google_secret_manager_secret.")}
    used_topics = {r for r in used if r.startswith("google_pubsub_topic.")}
    mine = {(t, target, role) for (t, target, role, member) in grants(module) if member == sa}
    assert {x for (t, x, role) in mine if role == ACCESSOR} == used_secrets
    assert {x for (t, x, role) in mine if role == PUBLISHER} == used_topics
    assert {role for (_, _, role) in mine} <= {ACCESSOR, PUBLISHER}


def test_each_additional_pixel_token_secret_is_readable_by_forward_alone(module):
    """var.pixels -> one empty secret per pixel -> one accessor grant per secret, for_each over
    exactly those secrets, to the forward service account; no other grant touches them."""
    secret = module.resources[SECRET + "pixel_token"]
    assert refs(secret, "for_each") == {"var.pixels"}
    assert attr(secret, "secret_id").expr.text == '"${local.prefix}-meta-token-${each.key}"'
    on_tokens = {k: b for k, b in grants(module).items() if k[1] == SECRET + "pixel_token"}
    assert set(on_tokens) == {(SECRET_IAM, SECRET + "pixel_token", ACCESSOR, SA_FORWARD)}
    (grant,) = on_tokens.values()
    assert grant.address == "google_secret_manager_secret_iam_member.pixel_token_accessor_forward"
    assert attr(grant, "for_each").expr.text == SECRET + "pixel_token"  # one grant per secret
    assert attr(grant, "secret_id").expr.text == "each.value.secret_id"  # on that secret only
    assert attr(grant, "member").expr.text == SA_FORWARD + ".member"
    assert value(grant, "role") == ACCESSOR
    assert "condition" not in {b.type for b in grant.body.blocks}
    # ... and the routing names exactly those secrets, as each pixel's token_secret
    versions = module.locals["pixel_token_versions"].expr
    assert {r.target for r in sc.references(versions)} == {SECRET + "pixel_token", VERSION}
    config = module.locals["pixels_config"].expr.text
    assert "token_secret = local.pixel_token_versions[id]" in config
    assert not re.search(r"google_secret_manager_secret\.(?!pixel_token)", config)


def test_each_webhook_signing_secret_is_readable_by_ingest_alone(module):
    """var.webhook_signing_secrets -> one empty secret per name -> one accessor grant per secret,
    for_each over exactly those secrets, to the ingest service account; no other grant touches
    them, and only ingest is told their names (<NAME>_SECRET), the way the code reads them."""
    secret = module.resources[SECRET + "webhook_signing"]
    assert refs(secret, "for_each") == {"var.webhook_signing_secrets"}
    assert attr(secret, "secret_id").expr.text == (
        '"${local.prefix}-webhook-${lower(replace(trimprefix(each.key, "CAPI_"), "_", "-"))}"'
    )
    on_signing = {k: b for k, b in grants(module).items() if k[1] == SECRET + "webhook_signing"}
    assert set(on_signing) == {(SECRET_IAM, SECRET + "webhook_signing", ACCESSOR, SA_INGEST)}
    (grant,) = on_signing.values()
    assert (
        grant.address == "google_secret_manager_secret_iam_member.webhook_signing_accessor_ingest"
    )
    assert attr(grant, "for_each").expr.text == SECRET + "webhook_signing"  # one per secret
    assert attr(grant, "secret_id").expr.text == "each.value.secret_id"  # on that secret only
    assert attr(grant, "member").expr.text == SA_INGEST + ".member"
    assert value(grant, "role") == ACCESSOR
    assert "condition" not in {b.type for b in grant.body.blocks}
    # the names reach ingest only, each as <NAME>_SECRET = the version path of NAME's secret
    signing = module.locals["webhook_signing_env"].expr.text
    assert '"${name}_SECRET" => "${secret.id}/${local.secret_version_suffix}"' in signing
    variable = per_key(SECRET + "webhook_signing", "_SECRET")
    assert variable in env(module, "ingest")
    assert not any(SECRET + "webhook_signing" in r for r in env(module, "forward").values())


def signing_validations(module: sc.Module) -> list[str]:
    variable = module.variables["webhook_signing_secrets"]
    return [v.body.attributes["condition"].expr.text for v in variable.body.blocks_of("validation")]


def test_webhook_signing_secret_names_cannot_shadow_a_setting_of_the_relay(module):
    """A name of var.webhook_signing_secrets becomes the variable <NAME>_SECRET of ingest, and
    the code reads <NAME> itself first: neither may be a setting the relay reads, or a signing
    secret's version path would become that setting (CAPI_API_KEYS_SECRET: the API keys!). The
    validation's list must hold every CAPI_* name the code reads, now and after any change."""
    conditions = signing_validations(module)
    assert any('regex("^CAPI_[A-Z0-9_]+$", name)' in text for text in conditions)
    (reserved_text,) = [text for text in conditions if "CAPI_API_KEYS" in text]
    assert '"${name}_SECRET"' in reserved_text  # the names and their _SECRET variables
    reserved = set(re.findall(r'"(CAPI_[A-Z0-9_]+)"', reserved_text))
    sources = [REPO / "main.py", *(REPO / "capi").rglob("*.py")]
    read_by_code = {
        name
        for path in sources
        for name in re.findall(r'"(CAPI_[A-Z0-9_]+)"', path.read_text(encoding="utf-8"))
    }
    assert {"CAPI_API_KEYS", "CAPI_ACCESS_TOKEN", "CAPI_PIXELS"} <= read_by_code
    assert read_by_code - reserved == set(), "settings a signing secret could shadow"
    set_by_module = {v for fn in ("ingest", "forward") for v in env(module, fn) if "<" not in v}
    assert set_by_module - reserved == set()
    # and a pair NAME, NAME_SECRET is refused too
    assert any(
        text.startswith("length(setintersection(var.webhook_signing_secrets,")
        for text in conditions
    )


def test_pixel_routing_is_only_set_when_configured(module):
    """With no additional pixel, key or route entry, CAPI_PIXELS is absent: the single-pixel
    environment of before (the rendered values are checked in test_tf_pixels.py)."""
    common = module.locals["common_env"].expr.text
    assert "!local.pixel_routing ? {} : { CAPI_PIXELS = local.pixels_config }" in common
    routing = module.locals["pixel_routing"].expr.text
    for variable in ("var.pixels", "var.key_pixels", "var.route_pixels"):
        assert f"length({variable})" in routing


def test_push_subscription_delivers_to_forward_with_oidc_backoff_and_dead_letter(module):
    push = module.resources["google_pubsub_subscription.push"]
    assert refs(push, "topic") == {"google_pubsub_topic.events"}
    assert refs(push, "push_config", "push_endpoint") == {FN_FORWARD}
    assert "service_config[0].uri" in attr(push, "push_config", "push_endpoint").expr.text
    assert refs(push, "push_config", "oidc_token", "service_account_email") == {SA_PUSH}
    assert refs(push, "push_config", "oidc_token", "audience") == {FN_FORWARD}
    assert refs(push, "dead_letter_policy", "dead_letter_topic") == {"google_pubsub_topic.dlq"}
    assert refs(push, "dead_letter_policy", "max_delivery_attempts") == {
        "var.max_delivery_attempts"
    }
    assert refs(push, "retry_policy", "minimum_backoff") == {"var.retry_minimum_backoff"}
    assert refs(push, "retry_policy", "maximum_backoff") == {"var.retry_maximum_backoff"}
    assert refs(push, "ack_deadline_seconds") == {"var.forward"}
    assert refs(push, "message_retention_duration") == {"var.message_retention_duration"}
    assert value(push, "expiration_policy", "ttl") == ""


def test_dead_letter_topic_has_a_pull_subscription_for_replay(module):
    subs = module.resources_of("google_pubsub_subscription")
    on_dlq = [b for b in subs.values() if refs(b, "topic") == {"google_pubsub_topic.dlq"}]
    assert [b.address for b in on_dlq] == ["google_pubsub_subscription.dlq"]
    dlq = on_dlq[0]
    assert dlq.body.block("push_config") is None
    assert value(dlq, "expiration_policy", "ttl") == ""
    assert "events-dlq-replay" in module.locals["dlq_subscription_name"].expr.text
    assert {"dlq_subscription", "dlq_subscription_name"} <= set(module.outputs)


def test_topics_take_the_optional_cmek_key(module):
    for name in ("events", "dlq"):
        topic = module.resources[f"google_pubsub_topic.{name}"]
        assert refs(topic, "kms_key_name") == {"var.kms_key_name"}
        assert "google_kms_crypto_key_iam_member.pubsub_topics" in refs(topic, "depends_on")
    assert sc.literal(module.variables["kms_key_name"].body.attributes["default"].expr) is None


def test_no_secret_value_can_enter_the_configuration_or_the_state(module):
    for block in module.blocks:
        assert block.labels[:1] not in (
            ["google_secret_manager_secret_version"],
            ["google_secret_manager_secret_version_access"],
            ["google_secret_manager_regional_secret_version"],
        ), f"{block.address}: secret versions belong in gcloud, not in Terraform state"
    forbidden_names = re.compile(r"(token|password|api_?keys?|signing|webhook_secret)$")
    for name in module.variables:
        assert not forbidden_names.search(name), f"variable {name} would put a secret in state"
    secrets = module.resources_of("google_secret_manager_secret")
    assert set(secrets) == {
        "google_secret_manager_secret.meta_token",
        "google_secret_manager_secret.api_keys",
        "google_secret_manager_secret.shopify_webhook_secret",
        "google_secret_manager_secret.stripe_webhook_secret",
        "google_secret_manager_secret.pixel_token",
        "google_secret_manager_secret.webhook_signing",
    }


SECRET_LOOKING = re.compile(
    r"EAA[A-Za-z0-9]{20,}"  # Meta access tokens
    r"|sk_(live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{10,}|rk_live_[A-Za-z0-9]{10,}"  # Stripe
    r"|shp(ss|at|ca|pa)_[a-fA-F0-9]{16,}"  # Shopify
    r"|AIza[0-9A-Za-z_-]{30,}"  # Google API keys
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\"type\":\s*\"service_account\""
)


def test_no_secret_looking_literal_anywhere():
    files = [*TERRAFORM.rglob("*.tf"), *TERRAFORM.rglob("*.tfvars"), REPO / "cloudbuild.yaml"]
    for path in files:
        if path.exists():
            match = SECRET_LOOKING.search(path.read_text())
            assert match is None, f"{path}: {match.group(0)[:12]}..."


def test_source_bucket_is_private_and_the_object_name_carries_the_content_hash(module):
    bucket = module.resources["google_storage_bucket.source"]
    assert value(bucket, "uniform_bucket_level_access") is True
    assert value(bucket, "public_access_prevention") == "enforced"
    obj = module.resources["google_storage_bucket_object.source"]
    assert "local.source_hash" in refs(obj, "name")
    files = module.locals["source_files"].expr.text
    assert '"main.py"' in files and '"requirements.txt"' in files and '"capi/**"' in files
    assert "__pycache__" in files
    digest = module.locals["source_hash"].expr.text
    assert "filesha256" in digest and "local.source_files" in digest
    for name in ("ingest", "forward"):
        path = ("build_config", "source", "storage_source")
        assert refs(function(module, name), *path, "object") == {
            "google_storage_bucket_object.source"
        }
        assert refs(function(module, name), *path, "bucket") == {"google_storage_bucket.source"}


def test_alerts_watch_the_dead_letter_queue_and_the_delivery_backlog(module):
    policies = module.resources_of("google_monitoring_alert_policy")
    filters = {
        addr: str(attr(b, "conditions", "condition_threshold", "filter").expr.text)
        for addr, b in policies.items()
    }
    dlq = filters["google_monitoring_alert_policy.dlq_not_empty"]
    assert "num_undelivered_messages" in dlq and "google_pubsub_subscription.dlq.name" in dlq
    backlog = filters["google_monitoring_alert_policy.delivery_backlog"]
    assert "oldest_unacked_message_age" in backlog
    assert "google_pubsub_subscription.push.name" in backlog
    for b in policies.values():
        assert refs(b, "notification_channels") == {"var.notification_channels"}


def test_required_apis_are_enabled_and_never_disabled(module):
    services = module.locals["services"].expr.text
    for api in (
        "cloudfunctions",
        "run",
        "cloudbuild",
        "artifactregistry",
        "pubsub",
        "secretmanager",
        "storage",
        "iam",
        "monitoring",
    ):
        assert f'"{api}.googleapis.com"' in services, api
    apis = module.resources["google_project_service.apis"]
    assert value(apis, "disable_on_destroy") is False


def test_interface_variables_and_outputs(module):
    assert {
        "project_id",
        "region",
        "pixel_id",
        "graph_api_version",
        "ingest",
        "forward",
        "max_delivery_attempts",
        "kms_key_name",
        "pixels",
        "key_pixels",
        "route_pixels",
        "webhook_mappings",
        "webhook_signing_secrets",
        "consent_policy",
        "ldu_states",
    } <= set(module.variables)
    for name in ("project_id", "region", "pixel_id"):
        assert "default" not in module.variables[name].body.attributes, name
    scaling = module.variables["ingest"].body.attributes["type"].expr.text
    for field in ("min_instances", "max_instances", "memory", "cpu", "concurrency"):
        assert field in scaling
    assert {
        "ingest_url",
        "topic",
        "topic_name",
        "dlq_topic",
        "push_subscription_name",
        "dlq_subscription_name",
        "secret_ids",
        "pixel_token_secret_ids",
        "webhook_signing_secret_ids",
        "pixels_config",
        "next_steps",
    } <= set(module.outputs)


def test_examples_use_the_module_and_production_keeps_state_remotely():
    for name in ("minimal", "production"):
        mod = sc.load_module(TERRAFORM / "examples" / name)
        (call,) = mod.modules.values()
        assert sc.literal(call.body.attributes["source"].expr) == "../.."
    prod = sc.load_module(TERRAFORM / "examples" / "production")
    backends = [
        b for t in prod.blocks if t.type == "terraform" for b in t.body.blocks_of("backend")
    ]
    assert [b.labels for b in backends] == [["gcs"]]


def test_the_packaged_files_exist_and_can_be_zipped_by_terraform():
    """What local.source_files selects (main.py, requirements.txt, capi/** without caches and dot
    files), emulated: the files must exist, be UTF-8 (Terraform's file() reads text) and the
    requirements must not point at anything outside the zip."""
    selected = ["main.py", "requirements.txt"] + [
        str(p.relative_to(REPO))
        for p in (REPO / "capi").rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        and not p.name.startswith(".")
    ]
    assert "capi/__init__.py" in selected
    for name in selected:
        path = REPO / name
        assert path.is_file(), f"{name} is missing: terraform plan would fail"
        path.read_text(encoding="utf-8")
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        assert not line.startswith(("-r", "-e", ".", "/", "file:")), f"not in the zip: {line}"
