# A production deployment: remote state (versions.tf), alert e-mails, optional CMEK on the topics,
# a warm ingest instance, protected secrets and named operators for `capi replay`; optionally
# several pixels with their routing, generic webhook mappings from a YAML file and a consent
# policy: two-pixels.tfvars shows them (terraform apply -var-file=two-pixels.tfvars).
# This is the configuration cloudbuild.yaml applies.

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  project      = var.project_id
  display_name = "capi-relay alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

module "capi_relay" {
  source = "../.."

  project_id        = var.project_id
  region            = var.region
  pixel_id          = var.pixel_id
  graph_api_version = var.graph_api_version
  default_country   = var.default_country

  # Several pixels: each pixel of var.pixels gets its own token secret <prefix>-meta-token-<id>;
  # key_pixels / route_pixels say which events go where (docs/DEPLOY.md, "Several pixels").
  pixels       = var.pixels
  key_pixels   = var.key_pixels
  route_pixels = var.route_pixels

  # The mapping file (YAML or JSON, relative to this directory) travels as inline JSON: the
  # function source holds only main.py, requirements.txt and capi/.
  webhook_mappings = var.webhook_mappings_file == "" ? "" : jsonencode(yamldecode(file(var.webhook_mappings_file)))
  # Every secret_env of the mappings' verify blocks: each gets its own empty secret, readable by
  # ingest only (docs/DEPLOY.md, "Generic webhook mappings and consent").
  webhook_signing_secrets = var.webhook_signing_secrets
  consent_policy          = var.consent_policy
  ldu_states              = var.ldu_states

  # Shopify and Stripe webhooks: each gets its signing secret; sources not listed answer 404.
  webhook_sources = var.webhook_sources
  shopify_topics  = var.shopify_topics
  # One order, one Purchase: the field of a Shopify order the storefront's dataLayer uses as
  # transaction_id (docs/SOURCES.md, "One order, one Purchase").
  shopify_order_key = var.shopify_order_key

  ingest = {
    min_instances = 1
    max_instances = 100
    concurrency   = 32
    memory        = "1Gi"
  }

  forward = {
    max_instances   = 30
    concurrency     = 16
    timeout_seconds = 60
  }

  max_delivery_attempts      = 15
  kms_key_name               = var.kms_key_name
  secret_deletion_protection = true
  dlq_operators              = var.dlq_operators
  notification_channels      = [for c in google_monitoring_notification_channel.email : c.id]

  labels = {
    environment = "production"
  }
}
