# What the module plans, checked by the real `terraform test` on mock providers, offline (the
# schema-only stand-in providers of tests/terraform/standin_provider serve the schemas; the suite
# runs this in tests/terraform/test_tf_validate.py). Every run only plans. Values Google computes
# (ids, e-mails) are given by the overrides below, so the functions' environments can be compared
# with the exact strings the relay reads: tests/terraform/test_tf_contract.py starts the relay's own
# handlers from those same expected environments.

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

override_resource {
  target          = google_pubsub_topic.events
  override_during = plan
  values          = { id = "projects/my-project/topics/capi-events" }
}

override_resource {
  target          = google_pubsub_topic.dlq
  override_during = plan
  values          = { id = "projects/my-project/topics/capi-events-dlq" }
}

override_resource {
  target          = google_secret_manager_secret.meta_token
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-meta-token" }
}

override_resource {
  target          = google_secret_manager_secret.api_keys
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-api-keys" }
}

override_resource {
  target          = google_secret_manager_secret.shopify_webhook_secret["shopify"]
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-shopify-webhook-secret" }
}

override_resource {
  target          = google_secret_manager_secret.stripe_webhook_secret["stripe"]
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-stripe-webhook-secret" }
}

override_resource {
  target          = google_secret_manager_secret.pixel_token["222222222222"]
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-meta-token-222222222222" }
}

override_resource {
  target          = google_secret_manager_secret.pixel_token["333333333333"]
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-meta-token-333333333333" }
}

override_resource {
  target          = google_secret_manager_secret.webhook_signing["CAPI_TYPEFORM_SECRET"]
  override_during = plan
  values          = { id = "projects/my-project/secrets/capi-webhook-typeform-secret" }
}

override_resource {
  target          = google_service_account.ingest
  override_during = plan
  values = {
    id     = "projects/my-project/serviceAccounts/capi-ingest@my-project.iam.gserviceaccount.com"
    email  = "capi-ingest@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_service_account.forward
  override_during = plan
  values = {
    id     = "projects/my-project/serviceAccounts/capi-forward@my-project.iam.gserviceaccount.com"
    email  = "capi-forward@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:capi-forward@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_service_account.push
  override_during = plan
  values = {
    id     = "projects/my-project/serviceAccounts/capi-push@my-project.iam.gserviceaccount.com"
    email  = "capi-push@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:capi-push@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_service_account.build
  override_during = plan
  values = {
    id     = "projects/my-project/serviceAccounts/capi-build@my-project.iam.gserviceaccount.com"
    email  = "capi-build@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:capi-build@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_cloudfunctions2_function.ingest
  override_during = plan
  values = {
    service_config = {
      service = "projects/my-project/locations/europe-west1/services/capi-ingest"
      uri     = "https://capi-ingest-abc123-ew.a.run.app"
    }
  }
}

override_resource {
  target          = google_cloudfunctions2_function.forward
  override_during = plan
  values = {
    service_config = {
      service = "projects/my-project/locations/europe-west1/services/capi-forward"
      uri     = "https://capi-forward-abc123-ew.a.run.app"
    }
  }
}

# -- the functions' environments (the contract with capi/config.py) ---------------------------

run "single_pixel_environment" {
  command = plan

  assert {
    condition = google_cloudfunctions2_function.ingest.service_config[0].environment_variables == tomap({
      CAPI_PIXEL_ID             = "111111111111"
      CAPI_GRAPH_VERSION        = "v26.0"
      CAPI_TOPIC                = "projects/my-project/topics/capi-events"
      CAPI_PUBLISH_MAX_INFLIGHT = "2"
      THREADS                   = "16"
      CAPI_API_KEYS_SECRET      = "projects/my-project/secrets/capi-api-keys/versions/latest"
      CAPI_PUBSUB_ENDPOINT      = "europe-west1-pubsub.googleapis.com:443"
    })
    error_message = "ingest's environment is not the single-pixel contract"
  }

  assert {
    condition = google_cloudfunctions2_function.forward.service_config[0].environment_variables == tomap({
      CAPI_PIXEL_ID              = "111111111111"
      CAPI_GRAPH_VERSION         = "v26.0"
      CAPI_DLQ_TOPIC             = "projects/my-project/topics/capi-events-dlq"
      CAPI_ACCESS_TOKEN_SECRET   = "projects/my-project/secrets/capi-meta-token/versions/latest"
      CAPI_MAX_DELIVERY_ATTEMPTS = "10"
      CAPI_ACK_DEADLINE          = "60"
      CAPI_GRAPH_TIMEOUT         = "10"
      CAPI_SECRET_TIMEOUT        = "5"
      CAPI_PUBLISH_TIMEOUT       = "10"
      CAPI_BATCH_WINDOW_MS       = "100"
      CAPI_DELIVERED_LOG_SAMPLE  = "0.01"
      THREADS                    = "250"
      CAPI_DRAIN_SUBSCRIPTION    = "projects/my-project/subscriptions/capi-events-forward"
      CAPI_DRAIN_BUDGET          = "45"
      CAPI_DRAIN_LINGER          = "0"
      CAPI_DRAIN_ACK_DEADLINE    = "60"
      CAPI_PUBSUB_ENDPOINT       = "europe-west1-pubsub.googleapis.com:443"
    })
    error_message = "forward's environment is not the single-pixel contract"
  }
}

run "several_pixels" {
  command = plan

  variables {
    pixels = {
      "222222222222" = {}
      "333333333333" = { test_event_code = "TEST42" }
    }
    key_pixels = {
      shop-b = { pixels = ["222222222222"] }
      agency = { pixels = ["111111111111", "222222222222"], allow = ["333333333333"] }
    }
    route_pixels = {
      "/webhooks/shopify" = { pixels = ["222222222222"] }
    }
  }

  assert {
    condition     = google_cloudfunctions2_function.ingest.service_config[0].environment_variables["CAPI_PIXELS"] == google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_PIXELS"]
    error_message = "ingest and forward must get the same routing"
  }

  assert {
    condition = jsondecode(google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_PIXELS"]) == {
      pixels = {
        "222222222222" = { token_secret = "projects/my-project/secrets/capi-meta-token-222222222222/versions/latest" }
        "333333333333" = { token_secret = "projects/my-project/secrets/capi-meta-token-333333333333/versions/latest", test_event_code = "TEST42" }
      }
      keys = {
        shop-b = { pixels = ["222222222222"] }
        agency = { pixels = ["111111111111", "222222222222"], allow = ["333333333333"] }
      }
      routes = {
        "/webhooks/shopify" = { pixels = ["222222222222"] }
      }
    }
    error_message = "CAPI_PIXELS does not name each pixel's own token secret, keys and routes"
  }

  assert {
    condition     = length(google_cloudfunctions2_function.ingest.service_config[0].environment_variables) == 8 && length(google_cloudfunctions2_function.forward.service_config[0].environment_variables) == 18
    error_message = "several pixels add CAPI_PIXELS and nothing else"
  }

  assert {
    condition = alltrue([
      for id in ["222222222222", "333333333333"] :
      google_secret_manager_secret_iam_member.pixel_token_accessor_forward[id].member == "serviceAccount:capi-forward@my-project.iam.gserviceaccount.com"
      && google_secret_manager_secret_iam_member.pixel_token_accessor_forward[id].role == "roles/secretmanager.secretAccessor"
      && google_secret_manager_secret_iam_member.pixel_token_accessor_forward[id].secret_id == google_secret_manager_secret.pixel_token[id].secret_id
    ])
    error_message = "each pixel's token secret must be readable by forward, one grant per secret"
  }
}

run "routing_by_key_alone" {
  command = plan

  variables {
    key_pixels = { sgtm = { pixels = ["111111111111"] } }
  }

  assert {
    condition = jsondecode(google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_PIXELS"]) == {
      pixels = {}
      keys   = { sgtm = { pixels = ["111111111111"] } }
    }
    error_message = "a key entry alone needs no additional pixel"
  }
}

run "webhook_mappings_signing_secrets_and_consent_reach_ingest_only" {
  command = plan

  variables {
    webhook_mappings        = "  {\"webhooks\": {\"typeform-leads\": {\"event_name\": \"Lead\", \"verify\": {\"header\": \"Typeform-Signature\", \"secret_env\": \"CAPI_TYPEFORM_SECRET\"}}}}\n"
    webhook_signing_secrets = ["CAPI_TYPEFORM_SECRET"]
    consent_policy          = "ldu"
    ldu_states              = ["ca"]
  }

  assert {
    condition = google_cloudfunctions2_function.ingest.service_config[0].environment_variables == tomap({
      CAPI_PIXEL_ID               = "111111111111"
      CAPI_GRAPH_VERSION          = "v26.0"
      CAPI_TOPIC                  = "projects/my-project/topics/capi-events"
      CAPI_PUBLISH_MAX_INFLIGHT   = "2"
      THREADS                     = "16"
      CAPI_API_KEYS_SECRET        = "projects/my-project/secrets/capi-api-keys/versions/latest"
      CAPI_WEBHOOK_MAPPINGS       = "{\"webhooks\": {\"typeform-leads\": {\"event_name\": \"Lead\", \"verify\": {\"header\": \"Typeform-Signature\", \"secret_env\": \"CAPI_TYPEFORM_SECRET\"}}}}"
      CAPI_TYPEFORM_SECRET_SECRET = "projects/my-project/secrets/capi-webhook-typeform-secret/versions/latest"
      CAPI_CONSENT_POLICY         = "ldu"
      CAPI_LDU_STATES             = "CA"
      CAPI_PUBSUB_ENDPOINT        = "europe-west1-pubsub.googleapis.com:443"
    })
    error_message = "mappings, their signing secret versions and consent belong on ingest"
  }

  assert {
    condition     = length(google_cloudfunctions2_function.forward.service_config[0].environment_variables) == 17
    error_message = "forward gets none of them"
  }

  assert {
    condition     = google_secret_manager_secret_iam_member.webhook_signing_accessor_ingest["CAPI_TYPEFORM_SECRET"].member == "serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com"
    error_message = "a signing secret is readable by ingest"
  }

  assert {
    condition     = google_secret_manager_secret.webhook_signing["CAPI_TYPEFORM_SECRET"].secret_id == "capi-webhook-typeform-secret"
    error_message = "a signing secret's id follows the prefix"
  }

  assert {
    condition     = output.webhook_signing_secret_ids["CAPI_TYPEFORM_SECRET"] == "capi-webhook-typeform-secret"
    error_message = "the outputs name the signing secret to fill"
  }
}

run "a_listed_signing_secret_no_mapping_uses_yet_is_allowed" {
  command = plan

  variables {
    webhook_mappings        = "{\"webhooks\": {\"open\": {\"event_name\": \"Lead\"}, \"direct\": {\"event_name\": \"Lead\", \"verify\": {\"header\": \"X-Sig\", \"secret\": \"projects/p/secrets/s/versions/latest\"}}}}"
    webhook_signing_secrets = ["CAPI_LATER"]
  }

  assert {
    condition     = google_secret_manager_secret.webhook_signing["CAPI_LATER"].secret_id == "capi-webhook-later" && contains(keys(google_cloudfunctions2_function.ingest.service_config[0].environment_variables), "CAPI_LATER_SECRET")
    error_message = "a signing secret may be created before a mapping uses it; a mapping naming its own secret version needs none"
  }
}

run "webhook_sources" {
  command = plan

  variables {
    webhook_sources = ["shopify", "stripe"]
  }

  assert {
    condition = google_cloudfunctions2_function.ingest.service_config[0].environment_variables == tomap({
      CAPI_PIXEL_ID                      = "111111111111"
      CAPI_GRAPH_VERSION                 = "v26.0"
      CAPI_TOPIC                         = "projects/my-project/topics/capi-events"
      CAPI_PUBLISH_MAX_INFLIGHT          = "2"
      THREADS                            = "16"
      CAPI_API_KEYS_SECRET               = "projects/my-project/secrets/capi-api-keys/versions/latest"
      CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET = "projects/my-project/secrets/capi-shopify-webhook-secret/versions/latest"
      CAPI_SHOPIFY_TOPICS                = "orders/paid"
      CAPI_SHOPIFY_ORDER_KEY             = "order_number"
      CAPI_STRIPE_WEBHOOK_SECRET_SECRET  = "projects/my-project/secrets/capi-stripe-webhook-secret/versions/latest"
      CAPI_PUBSUB_ENDPOINT               = "europe-west1-pubsub.googleapis.com:443"
    })
    error_message = "each listed webhook source gets its secret (and Shopify its topics) on ingest"
  }

  assert {
    condition = (
      google_secret_manager_secret_iam_member.shopify_webhook_secret_accessor_ingest["shopify"].member == "serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com"
      && google_secret_manager_secret_iam_member.stripe_webhook_secret_accessor_ingest["stripe"].member == "serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com"
    )
    error_message = "the webhook signing secrets are readable by ingest"
  }
}

run "no_webhook_source_means_no_webhook_secret" {
  command = plan

  assert {
    condition     = length(google_secret_manager_secret.shopify_webhook_secret) + length(google_secret_manager_secret.stripe_webhook_secret) + length(google_secret_manager_secret_iam_member.shopify_webhook_secret_accessor_ingest) == 0
    error_message = "unused webhook sources get no secret and no grant"
  }
}

# -- identities and grants: the reviewed least-privilege design --------------------------------

run "each_function_runs_as_its_own_service_account" {
  command = plan

  assert {
    condition = (
      google_cloudfunctions2_function.ingest.service_config[0].service_account_email == "capi-ingest@my-project.iam.gserviceaccount.com"
      && google_cloudfunctions2_function.forward.service_config[0].service_account_email == "capi-forward@my-project.iam.gserviceaccount.com"
      && google_cloudfunctions2_function.ingest.build_config[0].service_account == google_service_account.build.id
      && google_cloudfunctions2_function.forward.build_config[0].service_account == google_service_account.build.id
    )
    error_message = "ingest, forward and their builds each run as their own service account"
  }

  assert {
    condition = alltrue([
      for fn in [google_cloudfunctions2_function.ingest, google_cloudfunctions2_function.forward] :
      length(fn.service_config[0].secret_environment_variables) == 0 && length(fn.service_config[0].secret_volumes) == 0
    ])
    error_message = "secrets are read at run time by name, never mounted"
  }
}

# Every IAM grant of the module, with its role, member and the one resource it is on. A new grant
# needs a line here (tests/terraform/test_tf_validate.py fails on an IAM resource this file does
# not name).
run "grants_are_the_reviewed_table" {
  command = plan

  variables {
    pixels                  = { "222222222222" = {} }
    webhook_sources         = ["shopify", "stripe"]
    webhook_mappings        = "{\"webhooks\": {\"t\": {\"event_name\": \"Lead\", \"verify\": {\"header\": \"X-Sig\", \"secret_env\": \"CAPI_TYPEFORM_SECRET\"}}}}"
    webhook_signing_secrets = ["CAPI_TYPEFORM_SECRET"]
    dlq_operators           = ["group:ops@example.com"]
    kms_key_name            = "projects/my-project/locations/europe-west1/keyRings/r/cryptoKeys/k"
  }

  assert {
    condition = [
      for g in [
        google_pubsub_topic_iam_member.events_publisher_ingest,
        google_secret_manager_secret_iam_member.api_keys_accessor_ingest,
        google_secret_manager_secret_iam_member.shopify_webhook_secret_accessor_ingest["shopify"],
        google_secret_manager_secret_iam_member.stripe_webhook_secret_accessor_ingest["stripe"],
        google_secret_manager_secret_iam_member.webhook_signing_accessor_ingest["CAPI_TYPEFORM_SECRET"],
        google_cloud_run_v2_service_iam_member.ingest_invoker["allUsers"],
        google_pubsub_topic_iam_member.dlq_publisher_forward,
        google_secret_manager_secret_iam_member.meta_token_accessor_forward,
        google_secret_manager_secret_iam_member.pixel_token_accessor_forward["222222222222"],
        google_pubsub_subscription_iam_member.forward_subscriber_drain[0],
        google_cloud_run_v2_service_iam_member.forward_invoker_push,
        google_pubsub_topic_iam_member.dlq_publisher_pubsub_agent,
        google_pubsub_subscription_iam_member.push_subscriber_pubsub_agent,
        google_service_account_iam_member.push_token_creator_pubsub_agent,
        google_kms_crypto_key_iam_member.pubsub_topics[0],
        google_project_iam_member.build_log_writer,
        google_project_iam_member.build_function_sources_reader,
        google_storage_bucket_iam_member.build_source_reader,
        google_artifact_registry_repository_iam_member.build_writer,
        google_pubsub_subscription_iam_member.dlq_subscriber_operators["group:ops@example.com"],
        google_pubsub_topic_iam_member.events_publisher_operators["group:ops@example.com"],
      ] : "${g.role} ${g.member}"
      ] == [
      "roles/pubsub.publisher serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com",
      "roles/secretmanager.secretAccessor serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com",
      "roles/secretmanager.secretAccessor serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com",
      "roles/secretmanager.secretAccessor serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com",
      "roles/secretmanager.secretAccessor serviceAccount:capi-ingest@my-project.iam.gserviceaccount.com",
      "roles/run.invoker allUsers",
      "roles/pubsub.publisher serviceAccount:capi-forward@my-project.iam.gserviceaccount.com",
      "roles/secretmanager.secretAccessor serviceAccount:capi-forward@my-project.iam.gserviceaccount.com",
      "roles/secretmanager.secretAccessor serviceAccount:capi-forward@my-project.iam.gserviceaccount.com",
      "roles/pubsub.subscriber serviceAccount:capi-forward@my-project.iam.gserviceaccount.com",
      "roles/run.invoker serviceAccount:capi-push@my-project.iam.gserviceaccount.com",
      "roles/pubsub.publisher serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com",
      "roles/pubsub.subscriber serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com",
      "roles/iam.serviceAccountTokenCreator serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com",
      "roles/cloudkms.cryptoKeyEncrypterDecrypter serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com",
      "roles/logging.logWriter serviceAccount:capi-build@my-project.iam.gserviceaccount.com",
      "roles/storage.objectViewer serviceAccount:capi-build@my-project.iam.gserviceaccount.com",
      "roles/storage.objectViewer serviceAccount:capi-build@my-project.iam.gserviceaccount.com",
      "roles/artifactregistry.writer serviceAccount:capi-build@my-project.iam.gserviceaccount.com",
      "roles/pubsub.subscriber group:ops@example.com",
      "roles/pubsub.publisher group:ops@example.com",
    ]
    error_message = "a grant's role or member is not the reviewed one"
  }

  assert {
    condition = (
      google_pubsub_topic_iam_member.events_publisher_ingest.topic == google_pubsub_topic.events.name
      && google_pubsub_topic_iam_member.dlq_publisher_forward.topic == google_pubsub_topic.dlq.name
      && google_pubsub_topic_iam_member.dlq_publisher_pubsub_agent.topic == google_pubsub_topic.dlq.name
      && google_pubsub_topic_iam_member.events_publisher_operators["group:ops@example.com"].topic == google_pubsub_topic.events.name
      && google_secret_manager_secret_iam_member.api_keys_accessor_ingest.secret_id == google_secret_manager_secret.api_keys.secret_id
      && google_secret_manager_secret_iam_member.meta_token_accessor_forward.secret_id == google_secret_manager_secret.meta_token.secret_id
      && google_secret_manager_secret_iam_member.shopify_webhook_secret_accessor_ingest["shopify"].secret_id == google_secret_manager_secret.shopify_webhook_secret["shopify"].secret_id
      && google_secret_manager_secret_iam_member.stripe_webhook_secret_accessor_ingest["stripe"].secret_id == google_secret_manager_secret.stripe_webhook_secret["stripe"].secret_id
      && google_secret_manager_secret_iam_member.webhook_signing_accessor_ingest["CAPI_TYPEFORM_SECRET"].secret_id == google_secret_manager_secret.webhook_signing["CAPI_TYPEFORM_SECRET"].secret_id
      && google_cloud_run_v2_service_iam_member.ingest_invoker["allUsers"].name == "projects/my-project/locations/europe-west1/services/capi-ingest"
      && google_cloud_run_v2_service_iam_member.forward_invoker_push.name == "projects/my-project/locations/europe-west1/services/capi-forward"
      && google_pubsub_subscription_iam_member.push_subscriber_pubsub_agent.subscription == google_pubsub_subscription.forward.name
      && google_pubsub_subscription_iam_member.forward_subscriber_drain[0].subscription == google_pubsub_subscription.forward.name
      && google_pubsub_subscription_iam_member.dlq_subscriber_operators["group:ops@example.com"].subscription == google_pubsub_subscription.dlq.name
      && google_service_account_iam_member.push_token_creator_pubsub_agent.service_account_id == google_service_account.push.name
      && google_kms_crypto_key_iam_member.pubsub_topics[0].crypto_key_id == "projects/my-project/locations/europe-west1/keyRings/r/cryptoKeys/k"
      && google_storage_bucket_iam_member.build_source_reader.bucket == google_storage_bucket.source.name
      && google_artifact_registry_repository_iam_member.build_writer.repository == google_artifact_registry_repository.functions.repository_id
    )
    error_message = "a grant is not on the one resource the design grants it on"
  }

  assert {
    condition = (
      google_project_iam_member.build_log_writer.project == "my-project"
      && google_project_iam_member.build_function_sources_reader.project == "my-project"
      && strcontains(google_project_iam_member.build_function_sources_reader.condition[0].expression, "startsWith(\"projects/_/buckets/gcf-v2-sources-")
    )
    error_message = "project-wide grants: build logs, and source reads only under a condition on Cloud Functions' source buckets"
  }
}

run "only_ingest_is_public_and_forward_is_invoked_by_the_push_identity_alone" {
  command = plan

  assert {
    condition = (
      google_cloudfunctions2_function.ingest.service_config[0].ingress_settings == "ALLOW_ALL"
      && google_cloudfunctions2_function.forward.service_config[0].ingress_settings == "ALLOW_INTERNAL_ONLY"
      && keys(google_cloud_run_v2_service_iam_member.ingest_invoker) == ["allUsers"]
      && google_cloud_run_v2_service_iam_member.forward_invoker_push.member == google_service_account.push.member
    )
    error_message = "ingest is the public endpoint; forward is internal and invoked by the push identity only"
  }
}

run "drain_is_the_default_scheduler_calls_forward_which_pulls" {
  command = plan

  assert {
    condition = (
      length(google_pubsub_subscription.forward.push_config) == 0
      && google_pubsub_subscription.forward.topic == "projects/my-project/topics/capi-events"
      && try(google_pubsub_subscription.forward.dead_letter_policy[0].max_delivery_attempts == 10, false)
      && try(google_pubsub_subscription.forward.expiration_policy[0].ttl == "", false)
    )
    error_message = "drain: a pull subscription with the dead-letter policy and retention the push one has"
  }

  assert {
    condition = (
      google_cloud_scheduler_job.drain[0].schedule == "* * * * *"
      && google_cloud_scheduler_job.drain[0].region == "europe-west1"
      && google_cloud_scheduler_job.drain[0].http_target[0].http_method == "POST"
      && google_cloud_scheduler_job.drain[0].http_target[0].uri == format("%s/drain", google_cloudfunctions2_function.forward.service_config[0].uri)
      && google_cloud_scheduler_job.drain[0].http_target[0].oidc_token[0].service_account_email == "capi-push@my-project.iam.gserviceaccount.com"
      && google_cloud_scheduler_job.drain[0].http_target[0].oidc_token[0].audience == google_cloudfunctions2_function.forward.service_config[0].uri
      && google_cloud_scheduler_job.drain[0].retry_config[0].retry_count == 0
    )
    error_message = "Cloud Scheduler POSTs /drain every minute with an OIDC token of the invoker account, audience forward's URL"
  }

  assert {
    condition = (
      google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_DRAIN_SUBSCRIPTION"] == "projects/my-project/subscriptions/capi-events-forward"
      && google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_DRAIN_BUDGET"] == "45"
      && google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_DRAIN_ACK_DEADLINE"] == tostring(google_pubsub_subscription.forward.ack_deadline_seconds)
      && google_cloudfunctions2_function.forward.service_config[0].timeout_seconds == 180
      && google_cloud_scheduler_job.drain[0].attempt_deadline == "180s"
      && contains(keys(google_cloudfunctions2_function.ingest.service_config[0].environment_variables), "CAPI_DRAIN_SUBSCRIPTION") == false
    )
    error_message = "forward drains the subscription within its budget; its timeout and the job's deadline cover the budget and one batch"
  }

  assert {
    condition     = contains(keys(google_project_service.apis), "cloudscheduler.googleapis.com") && output.drain_job_name == "capi-drain"
    error_message = "the Cloud Scheduler API is enabled for the drain"
  }
}

run "successful_request_logs_are_excluded_failed_ones_kept" {
  command = plan

  assert {
    condition = (
      length(google_logging_project_exclusion.successful_requests) == 1
      && strcontains(google_logging_project_exclusion.successful_requests[0].filter, "log_id(\"run.googleapis.com/requests\")")
      && strcontains(google_logging_project_exclusion.successful_requests[0].filter, "httpRequest.status<400")
      && strcontains(google_logging_project_exclusion.successful_requests[0].filter, "\"capi-ingest\" OR \"capi-forward\"")
      && strcontains(google_logging_project_exclusion.successful_requests[0].filter, "jsonPayload") == false
    )
    error_message = "only Cloud Run's request logs of the relay's successful requests are excluded; the relay's own lines stay"
  }
}

run "push_subscription_delivers_with_oidc_backoff_and_dead_letter" {
  command = plan

  variables {
    delivery = "push"
  }

  assert {
    condition = (
      length(google_cloud_scheduler_job.drain) == 0
      && length(google_pubsub_subscription_iam_member.forward_subscriber_drain) == 0
      && contains(keys(google_project_service.apis), "cloudscheduler.googleapis.com") == false
      && contains(keys(google_cloudfunctions2_function.forward.service_config[0].environment_variables), "CAPI_DRAIN_SUBSCRIPTION") == false
      && output.drain_job_name == ""
    )
    error_message = "push: no scheduler job, no pull grant, no drain setting"
  }

  assert {
    condition = (
      google_pubsub_subscription.forward.topic == "projects/my-project/topics/capi-events"
      && google_pubsub_subscription.forward.push_config[0].push_endpoint == google_cloudfunctions2_function.forward.service_config[0].uri
      && google_pubsub_subscription.forward.push_config[0].oidc_token[0].service_account_email == "capi-push@my-project.iam.gserviceaccount.com"
      && google_pubsub_subscription.forward.push_config[0].oidc_token[0].audience == google_cloudfunctions2_function.forward.service_config[0].uri
    )
    error_message = "the push subscription must deliver to forward with an OIDC token of the push identity"
  }

  assert {
    condition = (
      try(google_pubsub_subscription.forward.retry_policy[0].minimum_backoff == "10s", false)
      && try(google_pubsub_subscription.forward.retry_policy[0].maximum_backoff == "600s", false)
      && try(google_pubsub_subscription.forward.dead_letter_policy[0].dead_letter_topic == "projects/my-project/topics/capi-events-dlq", false)
      && try(google_pubsub_subscription.forward.dead_letter_policy[0].max_delivery_attempts == 10, false)
      && try(google_pubsub_subscription.forward.expiration_policy[0].ttl == "", false)
    )
    error_message = "retry with backoff, a dead-letter policy, never expire"
  }

  assert {
    # the forwarder's worst case (capi/config.py, Settings.delivery_worst_case_s) with the defaults
    condition     = google_pubsub_subscription.forward.ack_deadline_seconds >= ceil(2 * 5 + 2 * (3.05 + 10) + 10 + 5) && google_pubsub_subscription.forward.ack_deadline_seconds == google_cloudfunctions2_function.forward.service_config[0].timeout_seconds
    error_message = "the ack deadline must cover one delivery's worst case, and equal forward's timeout"
  }

  assert {
    condition     = google_pubsub_subscription.dlq.topic == "projects/my-project/topics/capi-events-dlq" && length(google_pubsub_subscription.dlq.push_config) == 0 && google_pubsub_subscription.dlq.expiration_policy[0].ttl == ""
    error_message = "the dead-letter topic has a pull subscription for capi replay"
  }
}

run "topics_take_the_cmek_key" {
  command = plan

  variables {
    kms_key_name = "projects/my-project/locations/europe-west1/keyRings/r/cryptoKeys/k"
  }

  assert {
    condition     = google_pubsub_topic.events.kms_key_name == var.kms_key_name && google_pubsub_topic.dlq.kms_key_name == var.kms_key_name
    error_message = "both topics are encrypted with the given key"
  }
}

run "source_bucket_private_object_named_by_content_and_apis_never_disabled" {
  command = plan

  assert {
    condition = (
      google_storage_bucket.source.uniform_bucket_level_access == true
      && google_storage_bucket.source.public_access_prevention == "enforced"
      && can(regex("^capi/function-source-[0-9a-f]{64}[.]zip$", google_storage_bucket_object.source.name))
      && google_cloudfunctions2_function.ingest.build_config[0].source[0].storage_source[0].object == google_storage_bucket_object.source.name
      && google_cloudfunctions2_function.forward.build_config[0].source[0].storage_source[0].object == google_storage_bucket_object.source.name
    )
    error_message = "a private source bucket; the object name carries the content hash; both functions build from it"
  }

  assert {
    condition = alltrue([for s in google_project_service.apis : s.disable_on_destroy == false]) && length(setsubtract(
      ["cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com", "pubsub.googleapis.com", "secretmanager.googleapis.com", "storage.googleapis.com", "iam.googleapis.com", "monitoring.googleapis.com"],
      keys(google_project_service.apis),
    )) == 0
    error_message = "the required APIs are enabled and never disabled on destroy"
  }

  assert {
    condition = (
      strcontains(google_monitoring_alert_policy.dlq_not_empty.conditions[0].condition_threshold[0].filter, "num_undelivered_messages")
      && strcontains(google_monitoring_alert_policy.dlq_not_empty.conditions[0].condition_threshold[0].filter, google_pubsub_subscription.dlq.name)
      && strcontains(google_monitoring_alert_policy.delivery_backlog.conditions[0].condition_threshold[0].filter, "oldest_unacked_message_age")
      && strcontains(google_monitoring_alert_policy.delivery_backlog.conditions[0].condition_threshold[0].filter, google_pubsub_subscription.forward.name)
    )
    error_message = "alerts watch the dead-letter queue and the delivery backlog"
  }
}

run "metrics_and_dashboard" {
  command = plan

  assert {
    condition     = length(google_logging_metric.coverage) == 10 && google_logging_metric.ingest_events.name == "capi/ingest_events"
    error_message = "one coverage metric per identifier, and the ingest counter under the prefix"
  }

  assert {
    condition     = strcontains(google_logging_metric.ingest_events.filter, "resource.labels.service_name=\"capi-ingest\"") && strcontains(google_logging_metric.delivered_events.filter, "resource.labels.service_name=\"capi-forward\"") && strcontains(google_logging_metric.dead_letters.filter, "resource.labels.service_name=\"capi-forward\"")
    error_message = "each metric reads the lines of its own function"
  }

  assert {
    condition     = google_logging_metric.delivered_events.value_extractor == "EXTRACT(jsonPayload.events)" && google_logging_metric.delivered_events.metric_descriptor[0].value_type == "DISTRIBUTION"
    error_message = "delivered events are counted from the per-request lines' events field"
  }

  assert {
    condition     = strcontains(jsondecode(google_monitoring_dashboard.relay.dashboard_json).mosaicLayout.tiles[2].widget.xyChart.dataSets[0].timeSeriesQuery.prometheusQuery, "increase(logging_googleapis_com:user_capi_delivered_events_sum{monitored_resource=\"cloud_run_revision\"}[1m])")
    error_message = "the delivered chart sums the per-request counts (the distribution's _sum series)"
  }

  assert {
    condition     = google_logging_metric.delivery_latency.value_extractor == "EXTRACT(jsonPayload.latency_ms)" && google_logging_metric.delivery_latency.metric_descriptor[0].value_type == "DISTRIBUTION"
    error_message = "delivery latency is a distribution of latency_ms"
  }

  assert {
    condition     = length(jsondecode(google_monitoring_dashboard.relay.dashboard_json).mosaicLayout.tiles) == 7
    error_message = "the dashboard has its seven charts"
  }

  assert {
    condition = alltrue([
      for tile in jsondecode(google_monitoring_dashboard.relay.dashboard_json).mosaicLayout.tiles :
      lookup(tile, "xPos", 1) != 0 && lookup(tile, "yPos", 1) != 0
    ])
    error_message = "no tile states a position of 0: the API leaves zeros out, and every plan would show a change"
  }

  assert {
    condition = length(distinct([
      for tile in jsondecode(google_monitoring_dashboard.relay.dashboard_json).mosaicLayout.tiles :
      "${lookup(tile, "xPos", 0)},${lookup(tile, "yPos", 0)}"
    ])) == 7
    error_message = "each tile has a place of its own (an omitted position is 0)"
  }

  assert {
    condition = alltrue([
      for tile in jsondecode(google_monitoring_dashboard.relay.dashboard_json).mosaicLayout.tiles :
      alltrue([for ds in tile.widget.xyChart.dataSets : strcontains(try(ds.timeSeriesQuery.timeSeriesFilter.filter, ds.timeSeriesQuery.prometheusQuery), can(ds.timeSeriesQuery.prometheusQuery) ? "logging_googleapis_com:user_capi_" : "logging.googleapis.com/user/capi/")])
    ])
    error_message = "every chart reads one of the module's log-based metrics"
  }
}

run "secrets_stay_in_the_module_region_by_default" {
  command = plan

  variables {
    pixels                  = { "222222222222" = {} }
    webhook_sources         = ["shopify", "stripe"]
    webhook_signing_secrets = ["CAPI_TYPEFORM_SECRET"]
  }

  assert {
    condition = alltrue([
      for secret in concat(
        [google_secret_manager_secret.meta_token, google_secret_manager_secret.api_keys],
        values(google_secret_manager_secret.pixel_token),
        values(google_secret_manager_secret.shopify_webhook_secret),
        values(google_secret_manager_secret.stripe_webhook_secret),
        values(google_secret_manager_secret.webhook_signing),
      ) :
      length(secret.replication[0].auto) == 0
      && [for replica in secret.replication[0].user_managed[0].replicas : replica.location] == ["europe-west1"]
    ])
    error_message = "every secret is replicated in the module's region only (user-managed), which constraints/gcp.resourceLocations accepts"
  }
}

run "secret_locations_choose_the_regions_or_automatic_replication" {
  command = plan

  variables {
    secret_locations = ["europe-west1", "europe-west4"]
  }

  assert {
    condition     = [for replica in google_secret_manager_secret.meta_token.replication[0].user_managed[0].replicas : replica.location] == ["europe-west1", "europe-west4"]
    error_message = "secret_locations lists the regions of the replicas"
  }
}

run "secret_locations_empty_keeps_automatic_replication" {
  command = plan

  variables {
    secret_locations = []
  }

  assert {
    condition     = length(google_secret_manager_secret.api_keys.replication[0].auto) == 1 && length(google_secret_manager_secret.api_keys.replication[0].user_managed) == 0
    error_message = "secret_locations = [] keeps automatic replication (secrets made by an earlier version of the module)"
  }
}

run "first_apply_waits_for_grants_to_propagate" {
  command = plan

  assert {
    condition     = time_sleep.build_grants.create_duration == "60s" && time_sleep.pubsub_agent_grants.create_duration == "60s"
    error_message = "the builds and the topics wait 60 s for fresh grants, as the provider's own examples do"
  }

  assert {
    condition     = google_project_service_identity.pubsub.service == "pubsub.googleapis.com" && google_project_service_identity.pubsub.project == "my-project"
    error_message = "the Pub/Sub service agent is created before it is granted roles"
  }
}

run "next_steps_print_deploys_commands" {
  command = plan

  assert {
    condition     = output.next_steps == chomp(file("tests/next_steps.txt"))
    error_message = "next_steps is tests/next_steps.txt, whose commands are docs/DEPLOY.md's (test_tf_docs.py): ${output.next_steps}"
  }
}

run "next_steps_name_each_webhook_url_in_full_and_its_secret" {
  command = plan

  variables {
    webhook_sources         = ["shopify", "stripe"]
    pixels                  = { "222222222222" = {} }
    webhook_signing_secrets = ["CAPI_TYPEFORM_SECRET"]
  }

  assert {
    condition = alltrue([
      for line in [
        "shopify webhooks: https://capi-ingest-abc123-ew.a.run.app/webhooks/shopify",
        "stripe webhooks: https://capi-ingest-abc123-ew.a.run.app/webhooks/stripe",
        "printf '%s' \"$SHOPIFY_SECRET\" | gcloud secrets versions add capi-shopify-webhook-secret --project=\"$PROJECT_ID\" --data-file=-",
        "printf '%s' \"$STRIPE_SECRET\" | gcloud secrets versions add capi-stripe-webhook-secret --project=\"$PROJECT_ID\" --data-file=-",
        "printf '%s' \"$TYPEFORM_SECRET\" | gcloud secrets versions add capi-webhook-typeform-secret --project=\"$PROJECT_ID\" --data-file=-",
        "printf '%s' \"$META_TOKEN_222222222222\" | gcloud secrets versions add capi-meta-token-222222222222 --project=\"$PROJECT_ID\" --data-file=-",
      ] : strcontains(output.next_steps, line)
    ])
    error_message = "with webhook sources, pixels and signing secrets, next_steps gives each one's command and each webhook's full URL: ${output.next_steps}"
  }

  assert {
    condition     = strcontains(output.next_steps, "3. Store the signing secret") && strcontains(output.next_steps, "\n\n6. Dead letters")
    error_message = "the signing secrets are step 3 and the steps are numbered in order"
  }
}

run "next_steps_have_no_step_without_commands" {
  command = plan

  assert {
    condition     = !strcontains(output.next_steps, "signing secret") && !strcontains(output.next_steps, "webhooks:") && strcontains(output.next_steps, "\n\n5. Dead letters")
    error_message = "without webhooks there is no signing-secret step and no webhook line, and the steps are numbered 1 to 5"
  }
}

run "customer_data_stays_in_the_module_region" {
  # docs/PRIVACY.md: every resource that can hold customer data (the queue and its dead letters,
  # the secrets, the logs, the functions that handle requests, the source and the images) is in
  # var.region by default.
  command = plan

  assert {
    condition = alltrue([
      for topic in [google_pubsub_topic.events, google_pubsub_topic.dlq] :
      [for region in topic.message_storage_policy[0].allowed_persistence_regions : region] == ["europe-west1"] && topic.message_storage_policy[0].enforce_in_transit
    ])
    error_message = "the events and the dead letters are stored and processed in europe-west1 only"
  }

  assert {
    condition     = google_cloudfunctions2_function.ingest.location == "europe-west1" && google_cloudfunctions2_function.forward.location == "europe-west1" && upper(google_storage_bucket.source.location) == "EUROPE-WEST1" && google_artifact_registry_repository.functions.location == "europe-west1"
    error_message = "the functions, the source bucket and the image repository are in the region"
  }

  assert {
    condition     = google_logging_project_bucket_config.relay[0].location == "europe-west1" && google_logging_project_bucket_config.relay[0].retention_days == 30 && google_logging_project_sink.relay[0].destination == "logging.googleapis.com/projects/my-project/locations/europe-west1/buckets/capi-relay-logs"
    error_message = "the functions' logs go to a log bucket in the region, kept 30 days"
  }

  assert {
    condition     = google_logging_project_exclusion.relay_logs_from_default[0].filter == google_logging_project_sink.relay[0].filter && strcontains(google_logging_project_sink.relay[0].filter, "capi-ingest") && strcontains(google_logging_project_sink.relay[0].filter, "capi-forward")
    error_message = "what the sink stores in the region is what is kept out of _Default"
  }

  assert {
    condition     = google_cloudfunctions2_function.ingest.service_config[0].environment_variables["CAPI_PUBSUB_ENDPOINT"] == "europe-west1-pubsub.googleapis.com:443" && google_cloudfunctions2_function.forward.service_config[0].environment_variables["CAPI_PUBSUB_ENDPOINT"] == "europe-west1-pubsub.googleapis.com:443"
    error_message = "with enforce_in_transit the functions call Pub/Sub in their region"
  }

  assert {
    condition     = google_pubsub_subscription.dlq.message_retention_duration == "604800s" && lookup(google_cloudfunctions2_function.ingest.service_config[0].environment_variables, "CAPI_HASH_AT_INGEST", "unset") == "unset"
    error_message = "dead letters are kept 7 days by default; hash_at_ingest is off by default"
  }
}

run "data_regions_hash_at_ingest_and_global_logs" {
  command = plan

  variables {
    data_regions       = ["europe-west1", "europe-west4"]
    hash_at_ingest     = true
    regional_logs      = false
    enforce_in_transit = false
  }

  assert {
    condition     = sort([for region in google_pubsub_topic.events.message_storage_policy[0].allowed_persistence_regions : region]) == tolist(["europe-west1", "europe-west4"]) && google_pubsub_topic.events.message_storage_policy[0].enforce_in_transit == false
    error_message = "data_regions lists where Pub/Sub may store the events"
  }

  assert {
    condition     = [for replica in google_secret_manager_secret.meta_token.replication[0].user_managed[0].replicas : replica.location] == ["europe-west1", "europe-west4"]
    error_message = "the secrets follow data_regions when secret_locations is not set"
  }

  assert {
    condition     = google_cloudfunctions2_function.ingest.service_config[0].environment_variables["CAPI_HASH_AT_INGEST"] == "true" && lookup(google_cloudfunctions2_function.ingest.service_config[0].environment_variables, "CAPI_PUBSUB_ENDPOINT", "global") == "global"
    error_message = "hash_at_ingest reaches ingest; without enforce_in_transit the global endpoint is used"
  }

  assert {
    condition     = length(google_logging_project_bucket_config.relay) == 0 && length(google_logging_project_sink.relay) == 0 && length(google_logging_project_exclusion.relay_logs_from_default) == 0
    error_message = "regional_logs = false leaves the logs in _Default"
  }
}

run "browser_keys_open_the_browser_door" {
  command = plan

  variables {
    browser_keys = {
      "pk_live_0123456789abcdef" = { origins = ["https://shop.example.com"], events = ["PageView", "Purchase"], cookie_domain = "shop.example.com" }
    }
  }

  assert {
    condition     = jsondecode(google_cloudfunctions2_function.ingest.service_config[0].environment_variables["CAPI_BROWSER_KEYS"])["pk_live_0123456789abcdef"].events == ["PageView", "Purchase"] && google_cloudfunctions2_function.ingest.service_config[0].environment_variables["CAPI_TRUST_FORWARDED_FOR"] == "true"
    error_message = "the browser keys and their limits reach ingest, which trusts Cloud Run's X-Forwarded-For"
  }

  assert {
    condition     = lookup(google_cloudfunctions2_function.forward.service_config[0].environment_variables, "CAPI_BROWSER_KEYS", "none") == "none"
    error_message = "forward gets no browser key"
  }
}
