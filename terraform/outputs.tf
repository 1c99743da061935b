output "ingest_url" {
  description = "Base URL of the ingest function. Callers POST events to <ingest_url>/events with X-API-Key."
  value       = google_cloudfunctions2_function.ingest.service_config[0].uri
}

output "ingest_function_name" {
  description = "Name of the ingest function."
  value       = google_cloudfunctions2_function.ingest.name
}

output "forward_function_name" {
  description = "Name of the forward function (private, invoked by the push subscription only)."
  value       = google_cloudfunctions2_function.forward.name
}

output "topic" {
  description = "Main topic path (CAPI_TOPIC)."
  value       = google_pubsub_topic.events.id
}

output "topic_name" {
  description = "Main topic name."
  value       = google_pubsub_topic.events.name
}

output "dlq_topic" {
  description = "Dead-letter topic path (CAPI_DLQ_TOPIC)."
  value       = google_pubsub_topic.dlq.id
}

output "dlq_topic_name" {
  description = "Dead-letter topic name."
  value       = google_pubsub_topic.dlq.name
}

output "push_subscription_name" {
  description = "The events subscription forward reads: pulled by its drain (delivery = \"drain\") or pushing to it (\"push\"). The name is kept from when it was always a push subscription."
  value       = google_pubsub_subscription.forward.name
}

output "drain_job_name" {
  description = "The Cloud Scheduler job that calls forward's /drain (empty when delivery = \"push\")."
  value       = local.drain ? google_cloud_scheduler_job.drain[0].name : ""
}

output "dlq_subscription_name" {
  description = "Pull subscription on the dead-letter topic, read by `capi replay`."
  value       = google_pubsub_subscription.dlq.name
}

output "dlq_subscription" {
  description = "Full path of the dead-letter pull subscription."
  value       = google_pubsub_subscription.dlq.id
}

output "secret_ids" {
  description = "Secret Manager secrets (created empty) to fill with `gcloud secrets versions add`."
  value = merge(
    {
      meta_token = google_secret_manager_secret.meta_token.secret_id
      api_keys   = google_secret_manager_secret.api_keys.secret_id
    },
    { for source, secret in google_secret_manager_secret.shopify_webhook_secret : "${source}_webhook_secret" => secret.secret_id },
    { for source, secret in google_secret_manager_secret.stripe_webhook_secret : "${source}_webhook_secret" => secret.secret_id },
  )
}

output "pixel_token_secret_ids" {
  description = "Token secret of each additional pixel (var.pixels), pixel id -> secret id (created empty): fill each with `gcloud secrets versions add`."
  value       = { for id, secret in google_secret_manager_secret.pixel_token : id => secret.secret_id }
}

output "webhook_signing_secret_ids" {
  description = "Signing secret of each name of var.webhook_signing_secrets (a verify block's secret_env), name -> secret id (created empty, readable by ingest only): fill each with the sender's signing secret, `gcloud secrets versions add`."
  value       = { for name, secret in google_secret_manager_secret.webhook_signing : name => secret.secret_id }
}

output "pixels_config" {
  description = "CAPI_PIXELS as set on both functions (inline JSON routing: pixels with their token secret names, keys, routes); empty when var.pixels, var.key_pixels and var.route_pixels are all empty."
  value       = local.pixel_routing ? local.pixels_config : ""
}

output "service_accounts" {
  description = "Service accounts created by the module."
  value = {
    ingest  = google_service_account.ingest.email
    forward = google_service_account.forward.email
    push    = google_service_account.push.email
    build   = google_service_account.build.email
  }
}

output "source_object" {
  description = "gs:// path of the deployed function source (its name carries the content hash)."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}

output "next_steps" {
  description = "The commands of docs/DEPLOY.md sections 3 to 5 with this deployment's names: store the secrets, send a test Purchase, point the senders at ingest, replay dead letters."
  value       = local.next_steps
}

locals {
  ingest_uri = google_cloudfunctions2_function.ingest.service_config[0].uri
  # Known at plan time (the subscription's id is the same string once created).
  dlq_subscription_path = "projects/${var.project_id}/subscriptions/${local.dlq_subscription_name}"

  # Each step is a title and its commands; steps without commands (no webhook source, no extra
  # pixel) are left out and the rest numbered in order. The command lines are DEPLOY.md's, word for
  # word (tests/terraform/test_tf_docs.py checks it): shell variables for what the reader chose
  # (PROJECT_ID, the keys), the names of this deployment's secrets filled in.
  next_step_list = concat(
    [{
      title = "Store the Meta access token (Events Manager > your dataset > Settings > Conversions API > Generate access token):"
      lines = concat(
        [
          "read -rs META_TOKEN                   # paste the token, Enter",
          "printf '%s' \"$META_TOKEN\" | gcloud secrets versions add ${google_secret_manager_secret.meta_token.secret_id} --project=\"$PROJECT_ID\" --data-file=-",
        ],
        flatten([
          for id, secret in google_secret_manager_secret.pixel_token : [
            "read -rs META_TOKEN_${id}          # pixel ${id}: its own token",
            "printf '%s' \"$META_TOKEN_${id}\" | gcloud secrets versions add ${secret.secret_id} --project=\"$PROJECT_ID\" --data-file=-",
          ]
        ]),
      )
    }],
    [{
      title = "Create one API key per caller of ingest (named, so that each can be routed and revoked on its own):"
      lines = [
        "SGTM_KEY=$(openssl rand -hex 32)",
        "BACKEND_KEY=$(openssl rand -hex 32)",
        "printf '%s' \"sgtm=$SGTM_KEY,backend=$BACKEND_KEY\" | gcloud secrets versions add ${google_secret_manager_secret.api_keys.secret_id} --project=\"$PROJECT_ID\" --data-file=-",
      ]
    }],
    length(local.signing_secret_lines) == 0 ? [] : [{
      title = "Store the signing secret of each webhook sender (Shopify: Settings > Notifications > Webhooks; Stripe: the endpoint's signing secret; mappings: the sender's):"
      lines = local.signing_secret_lines
    }],
    [{
      title = "Send a test Purchase (with test_event_code set it shows in Events Manager > Test events within a minute; 401 for up to 5 minutes after a new key):"
      lines = [
        "INGEST_URL=$(terraform output -raw ingest_url)",
        "curl -sS -X POST \"$INGEST_URL/events\" -H \"X-API-Key: $BACKEND_KEY\" -H 'Content-Type: application/json' \\",
        "  -d '{\"data\": [{\"event_name\": \"Purchase\", \"event_time\": '\"$(date +%s)\"', \"event_id\": \"order-1001\", \"action_source\": \"website\",",
        "       \"event_source_url\": \"https://shop.example.com/checkout/thanks\",",
        "       \"user_data\": {\"em\": \"jane.doe@example.com\", \"ph\": \"+1 650 555 1212\", \"client_ip_address\": \"203.0.113.7\", \"client_user_agent\": \"Mozilla/5.0\"},",
        "       \"custom_data\": {\"value\": 42.5, \"currency\": \"EUR\", \"order_id\": \"1001\"}}]}'",
      ]
    }],
    [{
      title = "Point the senders at ingest (docs/SOURCES.md):"
      lines = concat(
        [
          "server-side GTM: import sgtm/capi-relay-tag.tpl (Templates > Tag Templates > New > Import), then a tag of it with",
          "  Relay URL ${local.ingest_uri} and API key the value of $SGTM_KEY",
          "your backend: POST ${local.ingest_uri}/events with X-API-Key: the value of $BACKEND_KEY",
        ],
        [for source in sort(var.webhook_sources) : "${source} webhooks: ${local.ingest_uri}/webhooks/${source}"],
      )
    }],
    [{
      title = "Dead letters wait in ${local.dlq_subscription_path}. Once their cause is fixed, from the repository's root (drop --dry-run to move them):"
      lines = [
        ".venv/bin/capi replay --subscription \"projects/$PROJECT_ID/subscriptions/${local.dlq_subscription_name}\" --topic \"projects/$PROJECT_ID/topics/${local.topic_name}\" --dry-run",
      ]
    }],
  )

  signing_secret_lines = concat(
    [for s in google_secret_manager_secret.shopify_webhook_secret : "printf '%s' \"$SHOPIFY_SECRET\" | gcloud secrets versions add ${s.secret_id} --project=\"$PROJECT_ID\" --data-file=-"],
    [for s in google_secret_manager_secret.stripe_webhook_secret : "printf '%s' \"$STRIPE_SECRET\" | gcloud secrets versions add ${s.secret_id} --project=\"$PROJECT_ID\" --data-file=-"],
    [
      for name, secret in google_secret_manager_secret.webhook_signing :
      "printf '%s' \"${"$"}${trimprefix(name, "CAPI_")}\" | gcloud secrets versions add ${secret.secret_id} --project=\"$PROJECT_ID\" --data-file=-"
    ],
  )

  next_steps = join("\n\n", concat(
    ["In this directory, with PROJECT_ID set as in docs/DEPLOY.md section 1:"],
    [
      for i, step in local.next_step_list :
      "${i + 1}. ${step.title}\n${join("\n", [for line in step.lines : "     ${line}"])}"
    ],
  ))
}
