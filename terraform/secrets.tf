# Secret Manager secrets, created empty. Their values never pass through Terraform (and so never
# reach the state): add them with `gcloud secrets versions add` (README / docs/DEPLOY.md). The
# functions read "versions/latest" at runtime, so rotating a value is one more version, no deploy.
#
# Replication: user-managed in var.secret_locations (default: data_regions, itself the module's
# region by default), so that the
# secrets stay where the rest of the relay is and the constraints/gcp.resourceLocations
# organization policy accepts them ("Constraint constraints/gcp.resourceLocations violated" is
# what automatic replication gets there). secret_locations = [] keeps automatic replication.

locals {
  secret_locations = var.secret_locations == null ? local.data_regions : var.secret_locations
}

resource "google_secret_manager_secret" "meta_token" {
  project             = var.project_id
  secret_id           = "${local.prefix}-meta-token"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    dynamic "auto" {
      for_each = length(local.secret_locations) == 0 ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = local.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
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
    dynamic "auto" {
      for_each = length(local.secret_locations) == 0 ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = local.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# Webhook signing secrets of the Shopify and Stripe adapters of ingest, only for the sources named
# in var.webhook_sources: a route that is not set up answers 404 without asking Secret Manager.
resource "google_secret_manager_secret" "shopify_webhook_secret" {
  for_each            = toset([for source in var.webhook_sources : source if source == "shopify"])
  project             = var.project_id
  secret_id           = "${local.prefix}-shopify-webhook-secret"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    dynamic "auto" {
      for_each = length(local.secret_locations) == 0 ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = local.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret" "stripe_webhook_secret" {
  for_each            = toset([for source in var.webhook_sources : source if source == "stripe"])
  project             = var.project_id
  secret_id           = "${local.prefix}-stripe-webhook-secret"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    dynamic "auto" {
      for_each = length(local.secret_locations) == 0 ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = local.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
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
    dynamic "auto" {
      for_each = length(local.secret_locations) == 0 ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = local.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# Signing secrets of the generic webhook mappings (var.webhook_signing_secrets): one per environment
# variable name that a mapping's verify block gives as secret_env, e.g. CAPI_TYPEFORM_SECRET ->
# <prefix>-webhook-typeform-secret (names are CAPI_ + upper case, digits, _: the id is unique).
# ingest gets CAPI_TYPEFORM_SECRET_SECRET = its version path (functions.tf), which is how the code
# reads a secret_env from Secret Manager, and only the ingest service account may read it (iam.tf).
resource "google_secret_manager_secret" "webhook_signing" {
  for_each = var.webhook_signing_secrets

  project             = var.project_id
  secret_id           = "${local.prefix}-webhook-${lower(replace(trimprefix(each.key, "CAPI_"), "_", "-"))}"
  labels              = local.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    dynamic "auto" {
      for_each = length(local.secret_locations) == 0 ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = local.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}
