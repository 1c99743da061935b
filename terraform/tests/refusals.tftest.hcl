# Bad inputs stop the plan: each variable validation and each precondition of the ingest function
# is made to fail once (expect_failures), with the mock providers of module.tftest.hcl.

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

variables {
  project_id = "my-project"
  region     = "europe-west1"
  pixel_id   = "111111111111"
}

run "pixels_keyed_by_name" {
  command = plan

  variables {
    pixels = { shop-b = {} }
  }

  expect_failures = [var.pixels]
}

run "api_key_name_not_a_letter_first" {
  command = plan

  variables {
    key_pixels = { "9lives" = { pixels = ["111111111111"] } }
  }

  expect_failures = [var.key_pixels]
}

run "key_pixels_not_numeric" {
  command = plan

  variables {
    key_pixels = { a = { pixels = ["pixel-a"] } }
  }

  expect_failures = [var.key_pixels]
}

run "route_not_a_path" {
  command = plan

  variables {
    route_pixels = { "webhooks/shopify" = { pixels = ["111111111111"] } }
  }

  expect_failures = [var.route_pixels]
}

run "route_allow_not_numeric" {
  command = plan

  variables {
    route_pixels = { "/sgtm" = { pixels = ["111111111111"], allow = ["x"] } }
  }

  expect_failures = [var.route_pixels]
}

run "route_without_pixels" {
  command = plan

  variables {
    route_pixels = { "/sgtm" = { pixels = [], allow = ["111111111111"] } }
  }

  expect_failures = [var.route_pixels]
}

run "key_without_pixels" {
  command = plan

  variables {
    key_pixels = { sgtm = { pixels = [] } }
  }

  expect_failures = [var.key_pixels]
}

run "mappings_yaml_not_json" {
  command = plan

  variables {
    webhook_mappings = "webhooks: {}"
  }

  expect_failures = [var.webhook_mappings]
}

run "mappings_a_path" {
  command = plan

  variables {
    webhook_mappings = "/workspace/mappings.yaml"
  }

  expect_failures = [var.webhook_mappings]
}

run "mappings_an_array" {
  command = plan

  variables {
    webhook_mappings = "[{\"webhooks\": {}}]"
  }

  expect_failures = [var.webhook_mappings]
}

run "mappings_without_webhooks" {
  command = plan

  variables {
    webhook_mappings = "{\"hooks\": {}}"
  }

  expect_failures = [var.webhook_mappings]
}

run "mappings_webhooks_a_list" {
  command = plan

  variables {
    webhook_mappings = "{\"webhooks\": []}"
  }

  expect_failures = [var.webhook_mappings]
}

run "mappings_over_32_kib" {
  command = plan

  variables {
    webhook_mappings = "{\"webhooks\": {\"x\": \"${join("", [for i in range(1024) : "aaaaaaaaaaaaaaaaaaaaaaaa"])}\"}}"
  }

  expect_failures = [var.webhook_mappings]
}

run "consent_policy_unknown" {
  command = plan

  variables {
    consent_policy = "deny"
  }

  expect_failures = [var.consent_policy]
}

run "consent_policy_upper_case" {
  command = plan

  variables {
    consent_policy = "LDU"
  }

  expect_failures = [var.consent_policy]
}

run "ldu_states_beyond_ca" {
  command = plan

  variables {
    ldu_states = ["NY"]
  }

  expect_failures = [var.ldu_states]
}

run "ack_deadline_below_the_worst_case" {
  command = plan

  variables {
    forward = { timeout_seconds = 30 }
  }

  expect_failures = [var.forward]
}

run "graph_timeout_too_long_for_the_ack_deadline" {
  command = plan

  variables {
    forward = { timeout_seconds = 60, graph_timeout_seconds = 20 }
  }

  expect_failures = [var.forward]
}

run "publish_max_inflight_not_a_count" {
  command = plan

  variables {
    ingest = { publish_max_inflight = 1.5 }
  }

  expect_failures = [var.ingest]
}

run "webhook_source_unknown" {
  command = plan

  variables {
    webhook_sources = ["paypal"]
  }

  expect_failures = [var.webhook_sources]
}

run "shopify_topic_not_a_purchase" {
  command = plan

  variables {
    shopify_topics = ["orders/updated"]
  }

  expect_failures = [var.shopify_topics]
}

run "dlq_operators_public" {
  command = plan

  variables {
    dlq_operators = ["allUsers"]
  }

  expect_failures = [var.dlq_operators]
}

run "signing_secret_name_malformed_1" {
  command = plan

  variables {
    webhook_signing_secrets = ["TYPEFORM_SECRET"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_name_malformed_2" {
  command = plan

  variables {
    webhook_signing_secrets = ["capi_typeform_secret"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_name_malformed_3" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_TYPEFORM-SECRET"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_name_malformed_4" {
  command = plan

  variables {
    webhook_signing_secrets = ["whsec_0123456789abcdef"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_name_malformed_5" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_api_keys" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_API_KEYS"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_access_token" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_ACCESS_TOKEN"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_shopify_webhook_secret" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_SHOPIFY_WEBHOOK_SECRET"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_stripe_webhook" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_STRIPE_WEBHOOK"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_pixels" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_PIXELS"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_webhook_mappings" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_WEBHOOK_MAPPINGS"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_topic" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_TOPIC"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_shadows_capi_ack_deadline" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_ACK_DEADLINE"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "signing_secret_name_and_its_secret_variable" {
  command = plan

  variables {
    webhook_signing_secrets = ["CAPI_A", "CAPI_A_SECRET"]
  }

  expect_failures = [var.webhook_signing_secrets]
}

run "pixels_lists_the_default_pixel" {
  command = plan

  variables {
    pixels = { "111111111111" = {} }
  }

  expect_failures = [google_cloudfunctions2_function.ingest]
}

run "key_routes_to_an_unknown_pixel" {
  command = plan

  variables {
    key_pixels = { a = { pixels = ["222222222222"] } }
  }

  expect_failures = [google_cloudfunctions2_function.ingest]
}

run "route_allows_an_unknown_pixel" {
  command = plan

  variables {
    pixels       = { "222222222222" = {} }
    route_pixels = { "/sgtm" = { pixels = ["222222222222"], allow = ["333333333333"] } }
  }

  expect_failures = [google_cloudfunctions2_function.ingest]
}

run "ldu_states_without_the_ldu_policy" {
  command = plan

  variables {
    ldu_states = ["CA"]
  }

  expect_failures = [google_cloudfunctions2_function.ingest]
}

run "verify_secret_env_without_its_secret" {
  command = plan

  variables {
    webhook_mappings = "{\"webhooks\": {\"t\": {\"event_name\": \"Lead\", \"verify\": {\"header\": \"X-Sig\", \"secret_env\": \"CAPI_TYPEFORM_SECRET\"}}}}"
  }

  expect_failures = [google_cloudfunctions2_function.ingest]
}

run "iam_propagation_delay_is_whole_seconds_up_to_ten_minutes" {
  command = plan

  variables {
    iam_propagation_delay = "2m"
  }

  expect_failures = [var.iam_propagation_delay]
}

run "enforce_in_transit_needs_the_functions_region_among_data_regions" {
  command = plan

  variables {
    data_regions = ["europe-west4"]
  }

  expect_failures = [google_pubsub_topic.events]
}
