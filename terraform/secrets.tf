# Secret Manager secrets, created empty. Their values never pass through Terraform (and so never
# reach the state): add them with `gcloud secrets versions add` (README / docs/DEPLOY.md). The
# functions read "versions/latest" at runtime, so rotating a value is one more version, no deploy.

resource "google_secret_manager_secret" "meta_token" {
  project             = var.project_id
  secret_id           = "${local.prefix}-meta-token"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Comma-separated keys that callers of ingest present in X-API-Key or Authorization: Bearer.
resource "google_secret_manager_secret" "api_keys" {
  project             = var.project_id
  secret_id           = "${local.prefix}-api-keys"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Webhook signing secrets (used by the Shopify and Stripe adapters of ingest). Leave them without a
# version if you do not receive those webhooks.
resource "google_secret_manager_secret" "shopify_webhook_secret" {
  project             = var.project_id
  secret_id           = "${local.prefix}-shopify-webhook-secret"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret" "stripe_webhook_secret" {
  project             = var.project_id
  secret_id           = "${local.prefix}-stripe-webhook-secret"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# One Meta access token per additional pixel (var.pixels): a token is generated per dataset in
# Events Manager, and a secret per pixel lets each be rotated, and its access audited, on its own.
# CAPI_PIXELS names each one as that pixel's token_secret (functions.tf); only the forward service
# account may read them (iam.tf). var.pixel_id keeps <prefix>-meta-token.
resource "google_secret_manager_secret" "pixel_token" {
  for_each = var.pixels

  project             = var.project_id
  secret_id           = "${local.prefix}-meta-token-${each.key}"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}
