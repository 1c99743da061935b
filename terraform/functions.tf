# The two Cloud Run functions (2nd gen). Both are built from the same zip; the entry point picks the
# Functions Framework target in main.py. Secrets are never mounted or copied into the environment:
# the *_SECRET variables name a Secret Manager version that the code reads at runtime with its own
# service account, which holds secretAccessor on that one secret (iam.tf).

locals {
  common_env = merge(
    {
      CAPI_PIXEL_ID      = var.pixel_id
      CAPI_GRAPH_VERSION = var.graph_api_version
    },
    var.test_event_code == "" ? {} : { CAPI_TEST_EVENT_CODE = var.test_event_code },
    var.default_country == "" ? {} : { CAPI_DEFAULT_COUNTRY = upper(var.default_country) },
  )

  ingest_env = merge(local.common_env, {
    CAPI_TOPIC                         = google_pubsub_topic.events.id
    CAPI_API_KEYS_SECRET               = "${google_secret_manager_secret.api_keys.id}/${local.secret_version_suffix}"
    CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET = "${google_secret_manager_secret.shopify_webhook_secret.id}/${local.secret_version_suffix}"
    CAPI_STRIPE_WEBHOOK_SECRET_SECRET  = "${google_secret_manager_secret.stripe_webhook_secret.id}/${local.secret_version_suffix}"
  })

  forward_env = merge(local.common_env, {
    CAPI_DLQ_TOPIC           = google_pubsub_topic.dlq.id
    CAPI_ACCESS_TOKEN_SECRET = "${google_secret_manager_secret.meta_token.id}/${local.secret_version_suffix}"
    # The subscription's limit: at the last attempt forward dead-letters a still-failing event
    # itself, with the reason, instead of letting Pub/Sub move it without one.
    CAPI_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
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

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_function_sources_reader,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}

resource "google_cloudfunctions2_function" "forward" {
  project     = var.project_id
  location    = var.region
  name        = local.forward_function_name
  description = "capi-relay forward: Pub/Sub push handler that delivers events to the Meta Conversions API."
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
    # Only reachable from inside the project (Pub/Sub push counts as internal when it targets the
    # run.app URL), and even then only with an OIDC token of the push service account (iam.tf).
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    min_instance_count               = var.forward.min_instances
    max_instance_count               = var.forward.max_instances
    max_instance_request_concurrency = var.forward.concurrency
    available_cpu                    = var.forward.cpu
    available_memory                 = var.forward.memory
    timeout_seconds                  = var.forward.timeout_seconds
    environment_variables            = local.forward_env
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_function_sources_reader,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}
