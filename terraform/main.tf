# capi-relay: a self-hosted Meta Conversions API relay.
#
#   sGTM / webhooks --HTTPS--> ingest (public, API keys) --> topic <prefix>-events
#     --> subscription <prefix>-events-forward (backoff, dead-letter) --> forward (private) --> Graph API
#         drain (default): Cloud Scheduler calls forward's /drain every minute; forward pulls in
#         batches of up to 1,000 events per Graph request (scheduler.tf)
#         push: Pub/Sub pushes each event to forward (OIDC)
#   permanently failed or undeliverable events --> topic <prefix>-events-dlq --> pull subscription
#
# Files: apis.tf (services), storage.tf (function source), functions.tf, pubsub.tf, scheduler.tf, secrets.tf,
# iam.tf (every grant, resource by resource), monitoring.tf (alerts).

locals {
  prefix = var.name_prefix

  labels = merge(var.labels, {
    app        = "capi-relay"
    managed-by = "terraform"
  })

  # Google-managed identities that the module grants resource-level roles to. The Pub/Sub
  # service agent is created by google_project_service_identity.pubsub (iam.tf) before any grant
  # names it: in a new project it may not exist yet when the API has just been enabled.
  project_number       = data.google_project.this.number
  pubsub_service_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"

  # Where customer data may be stored (docs/PRIVACY.md): the topics' message storage policy.
  data_regions = var.data_regions == null ? [var.region] : var.data_regions
  # The functions call Pub/Sub in their region when it refuses requests received elsewhere.
  pubsub_endpoint = var.enforce_in_transit ? "${var.region}-pubsub.googleapis.com:443" : ""

  topic_name             = "${local.prefix}-events"
  dlq_topic_name         = "${local.prefix}-events-dlq"
  push_subscription_name = "${local.prefix}-events-forward" # push or pull (var.delivery)
  drain                  = var.delivery == "drain"
  drain_job_name         = "${local.prefix}-drain"
  dlq_subscription_name  = "${local.prefix}-events-dlq-replay"
  ingest_function_name   = "${local.prefix}-ingest"
  forward_function_name  = "${local.prefix}-forward"
  secret_version_suffix  = "versions/latest"
}

data "google_project" "this" {
  project_id = var.project_id
}
