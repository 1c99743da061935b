# The two Cloud Run functions (2nd gen). Both are built from the same zip; the entry point picks the
# Functions Framework target in main.py. Secrets are never mounted or copied into the environment:
# the *_SECRET variables name a Secret Manager version that the code reads at runtime with its own
# service account, which holds secretAccessor on that one secret (iam.tf). That includes the signing
# secret of each generic webhook mapping (var.webhook_signing_secrets): <name>_SECRET on ingest.

locals {
  # CAPI_PIXELS (docs/SOURCES.md, "Pixels"), rendered as inline JSON, which the code accepts in
  # place of a file path. Set only when there is something to route: with no additional pixel and
  # no key or route entry, both functions keep the single-pixel environment (CAPI_PIXEL_ID alone).
  # var.pixel_id stays the default pixel (no "default" entry) and keeps the global token secret;
  # each pixel of var.pixels names its own token secret. Only names of secrets, never values.
  pixel_routing = length(var.pixels) + length(var.key_pixels) + length(var.route_pixels) > 0

  pixel_token_versions = {
    for id, secret in google_secret_manager_secret.pixel_token : id => "${secret.id}/${local.secret_version_suffix}"
  }

  pixels_config = jsonencode(merge(
    {
      pixels = {
        for id, pixel in var.pixels : id => merge(
          { token_secret = local.pixel_token_versions[id] },
          pixel.test_event_code == "" ? {} : { test_event_code = pixel.test_event_code },
        )
      }
    },
    length(var.key_pixels) == 0 ? {} : { keys = local.routing_entries.keys },
    length(var.route_pixels) == 0 ? {} : { routes = local.routing_entries.routes },
  ))

  # An entry is { pixels } or { pixels, allow }, as in the routing file.
  routing_entries = {
    for section, entries in { keys = var.key_pixels, routes = var.route_pixels } : section => {
      for name, entry in entries : name => length(entry.allow) == 0 ? { pixels = entry.pixels } : { pixels = entry.pixels, allow = entry.allow }
    }
  }

  # Pixels named in key_pixels / route_pixels that the relay does not know: the code refuses the
  # whole routing when a function starts, so the plan refuses it first (preconditions on the
  # ingest function).
  routing_unknown_pixels = setsubtract(
    flatten([for entry in concat(values(var.key_pixels), values(var.route_pixels)) : concat(entry.pixels, entry.allow)]),
    concat([var.pixel_id], keys(var.pixels)),
  )

  common_env = merge(
    {
      CAPI_PIXEL_ID      = var.pixel_id
      CAPI_GRAPH_VERSION = var.graph_api_version
    },
    var.test_event_code == "" ? {} : { CAPI_TEST_EVENT_CODE = var.test_event_code },
    var.default_country == "" ? {} : { CAPI_DEFAULT_COUNTRY = upper(var.default_country) },
    # Both functions: ingest routes each event to its pixels, forward picks each pixel's token.
    !local.pixel_routing ? {} : { CAPI_PIXELS = local.pixels_config },
  )

  # The signing secrets of the generic webhook mappings: for a verify block's secret_env NAME the
  # code reads the environment variable NAME, else NAME_SECRET as a Secret Manager version, so
  # ingest gets NAME_SECRET = the version path of NAME's own secret (secrets.tf). The names are
  # validated not to be settings of the relay (variables.tf), so they override nothing.
  webhook_signing_env = {
    for name, secret in google_secret_manager_secret.webhook_signing : "${name}_SECRET" => "${secret.id}/${local.secret_version_suffix}"
  }

  # secret_env of every verify block of var.webhook_mappings (JSON, validated). A verify block with
  # secret: names a version itself: the module neither creates nor grants that one.
  webhook_verify_secret_envs = toset(compact([
    for mapping in try(jsondecode(var.webhook_mappings).webhooks, {}) : try(trimspace(tostring(mapping.verify.secret_env)), "")
  ]))

  # Those the module provides no secret for: the mapping could never verify a request (the
  # function would answer 500), so the plan stops (precondition on the ingest function).
  webhook_unprovisioned_secret_envs = setsubtract(local.webhook_verify_secret_envs, var.webhook_signing_secrets)

  ingest_env = merge(
    local.common_env,
    local.webhook_signing_env,
    {
      CAPI_TOPIC           = google_pubsub_topic.events.id
      CAPI_API_KEYS_SECRET = "${google_secret_manager_secret.api_keys.id}/${local.secret_version_suffix}"
      # Functions Framework's gunicorn serves THREADS requests at once (default 4 per CPU): as
      # many as Cloud Run sends, so each waits for Pub/Sub in a thread of its own instead of in
      # gunicorn's backlog, and those that find CAPI_PUBLISH_MAX_INFLIGHT Publish RPCs in flight
      # share the next one (capi/queueing/group_commit.py).
      CAPI_PUBLISH_MAX_INFLIGHT = tostring(var.ingest.publish_max_inflight)
      THREADS                   = tostring(var.ingest.concurrency)
    },
    # Only the webhook sources this deployment receives (var.webhook_sources).
    !contains(var.webhook_sources, "shopify") ? {} : {
      CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET = "${google_secret_manager_secret.shopify_webhook_secret["shopify"].id}/${local.secret_version_suffix}"
      CAPI_SHOPIFY_TOPICS                = join(",", var.shopify_topics)
      CAPI_SHOPIFY_ORDER_KEY             = var.shopify_order_key
    },
    !contains(var.webhook_sources, "stripe") ? {} : {
      CAPI_STRIPE_WEBHOOK_SECRET_SECRET = "${google_secret_manager_secret.stripe_webhook_secret["stripe"].id}/${local.secret_version_suffix}"
    },
    # Generic webhooks as inline JSON: the function source holds no mapping file.
    var.webhook_mappings == "" ? {} : { CAPI_WEBHOOK_MAPPINGS = trimspace(var.webhook_mappings) },
    var.consent_policy == "ignore" ? {} : { CAPI_CONSENT_POLICY = var.consent_policy },
    # The browser door (pixel.js, POST /browser): its public keys; the client IP address is the
    # last X-Forwarded-For entry, the one Cloud Run appends.
    length(var.browser_keys) == 0 ? {} : {
      CAPI_BROWSER_KEYS = jsonencode({
        for key, spec in var.browser_keys : key => merge(
          { origins = spec.origins, rate_per_minute = spec.rate_per_minute, cookie_domain = spec.cookie_domain },
          spec.events == null ? {} : { events = spec.events },
        )
      })
      CAPI_BROWSER_RATE_PER_IP = tostring(var.browser_rate_per_ip)
      CAPI_TRUST_FORWARDED_FOR = "true"
    },
    # No raw customer information in the queue or the dead letters (docs/PRIVACY.md).
    !var.hash_at_ingest ? {} : { CAPI_HASH_AT_INGEST = "true" },
    # Pub/Sub refuses requests received outside data_regions: call the region's endpoint.
    local.pubsub_endpoint == "" ? {} : { CAPI_PUBSUB_ENDPOINT = local.pubsub_endpoint },
    length(var.ldu_states) == 0 ? {} : { CAPI_LDU_STATES = join(",", [for s in var.ldu_states : upper(s)]) },
  )

  forward_env = merge(local.common_env, local.pubsub_endpoint == "" ? {} : {
    CAPI_PUBSUB_ENDPOINT = local.pubsub_endpoint
    }, {
    CAPI_DLQ_TOPIC           = google_pubsub_topic.dlq.id
    CAPI_ACCESS_TOKEN_SECRET = "${google_secret_manager_secret.meta_token.id}/${local.secret_version_suffix}"
    # The subscription's limit: at the last attempt forward dead-letters a still-failing event
    # itself, with the reason, instead of letting Pub/Sub move it without one.
    CAPI_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
    # Every outside call's deadline, and the ack deadline they must fit in: the forwarder
    # refuses to start when one delivery could outlast the ack deadline.
    CAPI_ACK_DEADLINE    = tostring(var.forward.timeout_seconds)
    CAPI_GRAPH_TIMEOUT   = tostring(var.forward.graph_timeout_seconds)
    CAPI_SECRET_TIMEOUT  = tostring(var.forward.secret_timeout_seconds)
    CAPI_PUBLISH_TIMEOUT = tostring(var.forward.publish_timeout_seconds)
    # Batching across concurrent pushes (capi/forward/batcher.py): Functions Framework's gunicorn
    # serves THREADS requests at once (default 4 per CPU); it must match the concurrency Cloud Run
    # sends, or waiting pushes would queue instead of joining a batch.
    CAPI_BATCH_WINDOW_MS = tostring(var.forward.batch_window_ms)
    # One delivery line per Graph request; this share of delivered events gets its own line.
    CAPI_DELIVERED_LOG_SAMPLE = tostring(var.delivered_log_sample)
    THREADS                   = tostring(var.forward.concurrency)
    }, !local.drain ? {} : {
    # The drain (capi/forward/drainer.py): the subscription's path is built from its name, not
    # read from the resource, which depends on forward's URI in push mode.
    CAPI_DRAIN_SUBSCRIPTION = "projects/${var.project_id}/subscriptions/${local.push_subscription_name}"
    CAPI_DRAIN_BUDGET       = tostring(var.drain.budget_seconds)
    CAPI_DRAIN_LINGER       = tostring(var.drain.linger_seconds)
    CAPI_DRAIN_ACK_DEADLINE = tostring(var.forward.timeout_seconds)
  })
}

resource "google_cloudfunctions2_function" "ingest" {
  # checkov:skip=CKV_GCP_124:ingest is the public endpoint by design: server-side GTM, e-commerce webhooks and customers' backends call it from outside Google Cloud. Every request must carry an API key (X-API-Key or Bearer), checked by the code against the Secret Manager secret.
  project     = var.project_id
  location    = var.region
  name        = local.ingest_function_name
  description = "capi-relay ingest: authenticates, validates and queues conversion events."
  labels      = local.labels

  build_config {
    runtime           = var.runtime
    entry_point       = "ingest"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.ingest.email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    min_instance_count               = var.ingest.min_instances
    max_instance_count               = var.ingest.max_instances
    max_instance_request_concurrency = var.ingest.concurrency
    available_cpu                    = var.ingest.cpu
    available_memory                 = var.ingest.memory
    timeout_seconds                  = var.ingest.timeout_seconds
    environment_variables            = local.ingest_env
  }

  lifecycle {
    precondition {
      condition     = !contains(keys(var.pixels), var.pixel_id)
      error_message = "pixels must not list pixel_id: the default pixel already has its token secret <prefix>-meta-token."
    }
    precondition {
      condition     = length(local.routing_unknown_pixels) == 0
      error_message = "key_pixels / route_pixels name a pixel that is neither pixel_id nor a key of pixels."
    }
    precondition {
      condition     = length(local.webhook_unprovisioned_secret_envs) == 0
      error_message = "webhook_mappings: a verify block names secret_env ${join(", ", sort(local.webhook_unprovisioned_secret_envs))}, which webhook_signing_secrets does not list: add it there, so that its secret exists, ingest may read it and gets <name>_SECRET."
    }
    precondition {
      condition     = length(var.ldu_states) == 0 || var.consent_policy == "ldu"
      error_message = "ldu_states only take effect with consent_policy = \"ldu\"."
    }
  }

  # The build account's grants, applied everywhere (iam.tf).
  depends_on = [google_project_service.apis, time_sleep.build_grants]
}

resource "google_cloudfunctions2_function" "forward" {
  project     = var.project_id
  location    = var.region
  name        = local.forward_function_name
  description = "capi-relay forward: delivers queued events to the Meta Conversions API (drains its subscription, or takes Pub/Sub pushes)."
  labels      = local.labels

  build_config {
    runtime           = var.runtime
    entry_point       = "forward"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.forward.email
    # Only reachable from inside the project (Cloud Scheduler and Pub/Sub push of the same project
    # count as internal when they call the run.app URL), and even then only with an OIDC token of
    # the invoker account (iam.tf).
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    min_instance_count               = var.forward.min_instances
    max_instance_count               = var.forward.max_instances
    max_instance_request_concurrency = var.forward.concurrency
    available_cpu                    = var.forward.cpu
    available_memory                 = var.forward.memory
    # Drain: one call lasts the drain's budget and one batch; push: one delivery.
    timeout_seconds       = local.drain ? var.drain.timeout_seconds : var.forward.timeout_seconds
    environment_variables = local.forward_env
  }

  # The build account's grants, applied everywhere (iam.tf).
  depends_on = [google_project_service.apis, time_sleep.build_grants]
}
