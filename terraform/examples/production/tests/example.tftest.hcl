# The production example hands its settings to the module as the module expects them: by default a
# single-pixel relay; with the settings of two-pixels.tfvars, two pixels routed by key and route,
# the mapping file as inline JSON with its signing secret, and consent. Plan only, on mocks.

mock_provider "google" {
  override_during = plan

  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

mock_provider "archive" {
  override_during = plan
}

mock_provider "google-beta" {
  override_during = plan

  mock_resource "google_project_service_identity" {
    defaults = {
      email = "service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    }
  }
}

mock_provider "time" {
  override_during = plan
}

override_resource {
  target          = module.capi_relay.google_secret_manager_secret.pixel_token["222222222222"]
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-meta-token-222222222222" }
}

variables {
  project_id = "my-project"
  region     = "europe-west1"
  pixel_id   = "111111111111"
}

run "defaults_keep_the_single_pixel_relay" {
  command = plan

  assert {
    condition     = output.pixels_config == "" && length(output.pixel_token_secret_ids) == 0 && length(output.webhook_signing_secret_ids) == 0
    error_message = "by default the example is a single-pixel relay"
  }

  assert {
    condition     = output.secret_ids["shopify_webhook_secret"] == "capi-shopify-webhook-secret" && output.secret_ids["stripe_webhook_secret"] == "capi-stripe-webhook-secret"
    error_message = "the example receives Shopify and Stripe webhooks by default"
  }
}

# The values of two-pixels.tfvars.
run "two_pixels" {
  command = plan

  variables {
    pixels = { "222222222222" = {} }
    key_pixels = {
      shop-a = { pixels = ["111111111111"] }
      shop-b = { pixels = ["222222222222"] }
      agency = { pixels = ["111111111111", "222222222222"] }
    }
    route_pixels = {
      "/webhooks/shopify"   = { pixels = ["222222222222"] }
      "/webhooks/stripe"    = { pixels = ["111111111111"] }
      "/webhooks/crm-deals" = { pixels = ["222222222222"] }
    }
    webhook_mappings_file   = "webhook-mappings.yaml"
    webhook_signing_secrets = ["CAPI_TYPEFORM_SECRET"]
    consent_policy          = "ldu"
    ldu_states              = ["CA"]
  }

  assert {
    condition = (
      jsondecode(output.pixels_config).pixels == { "222222222222" = { token_secret = "projects/my-project/secrets/capi-meta-token-222222222222/versions/latest" } }
      && jsondecode(output.pixels_config).keys == {
        shop-a = { pixels = ["111111111111"] }
        shop-b = { pixels = ["222222222222"] }
        agency = { pixels = ["111111111111", "222222222222"] }
      }
      && jsondecode(output.pixels_config).routes == {
        "/webhooks/shopify"   = { pixels = ["222222222222"] }
        "/webhooks/stripe"    = { pixels = ["111111111111"] }
        "/webhooks/crm-deals" = { pixels = ["222222222222"] }
      }
    )
    error_message = "the routing reaches the module as given"
  }

  assert {
    condition     = output.pixel_token_secret_ids == { "222222222222" = "capi-meta-token-222222222222" } && output.webhook_signing_secret_ids == { CAPI_TYPEFORM_SECRET = "capi-webhook-typeform-secret" }
    error_message = "shop B's token secret and the mapping's signing secret are created"
  }
}
