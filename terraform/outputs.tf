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
  description = "Push subscription that delivers events to forward."
  value       = google_pubsub_subscription.push.name
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
  description = "Commands to run after the first apply."
  value       = <<-EOT
    1. Store the Meta access token (Events Manager > Settings > Conversions API > Generate access token):
         printf '%s' "$META_TOKEN" | gcloud secrets versions add ${google_secret_manager_secret.meta_token.secret_id} --project=${var.project_id} --data-file=-${local.pixel_token_steps}

    2. Create the API key(s) that callers of ingest present (comma-separated for several):
         API_KEY=$(openssl rand -hex 32)
         printf '%s' "$API_KEY" | gcloud secrets versions add ${google_secret_manager_secret.api_keys.secret_id} --project=${var.project_id} --data-file=-

    3. For the webhooks you receive (var.webhook_sources, mappings with verify), store their signing secrets:${local.source_signing_steps}${local.webhook_signing_steps}

    4. Send a test event (it appears in Events Manager > Test events when test_event_code is set):
         curl -sS -X POST '${google_cloudfunctions2_function.ingest.service_config[0].uri}/events' \
           -H "X-API-Key: $API_KEY" -H 'Content-Type: application/json' \
           -d '{"data":[{"event_name":"PageView","event_time":'"$(date +%s)"',"action_source":"website","event_source_url":"https://example.com/","event_id":"test-1","user_data":{"em":"someone@example.com","client_user_agent":"curl"}}]}'

    5. Point server-side GTM or your webhook sender at ${google_cloudfunctions2_function.ingest.service_config[0].uri}/events
       with the header X-API-Key: <API_KEY> (see docs/DEPLOY.md).

    6. Dead-lettered events wait in ${google_pubsub_subscription.dlq.id};
       `capi replay` moves them back to ${google_pubsub_topic.events.id}.
  EOT
}

locals {
  # next_steps, step 3: one command per generic webhook mapping's signing secret, read from a shell
  # variable named after it ("$TYPEFORM_SECRET" for CAPI_TYPEFORM_SECRET; ${"$"} is a literal $).
  source_signing_steps = join("", concat(
    [for s in google_secret_manager_secret.shopify_webhook_secret : "\n     printf '%s' \"$SHOPIFY_SECRET\" | gcloud secrets versions add ${s.secret_id} --project=${var.project_id} --data-file=-"],
    [for s in google_secret_manager_secret.stripe_webhook_secret : "\n     printf '%s' \"$STRIPE_SECRET\" | gcloud secrets versions add ${s.secret_id} --project=${var.project_id} --data-file=-"],
  ))

  webhook_signing_steps = join("", [
    for name, secret in google_secret_manager_secret.webhook_signing :
    "\n\n   Generic webhook mappings whose verify names secret_env ${name}: the sender's signing secret\n     printf '%s' \"${"$"}${trimprefix(name, "CAPI_")}\" | gcloud secrets versions add ${secret.secret_id} --project=${var.project_id} --data-file=-"
  ])

  # next_steps, step 1: one command per additional pixel, each with that pixel's own token.
  pixel_token_steps = join("", [
    for id, secret in google_secret_manager_secret.pixel_token :
    "\n\n   Pixel ${id}: its own token (Events Manager > that dataset > Settings), in its own secret:\n     printf '%s' \"$META_TOKEN_${id}\" | gcloud secrets versions add ${secret.secret_id} --project=${var.project_id} --data-file=-"
  ])
}
