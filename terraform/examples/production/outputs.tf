output "ingest_url" {
  description = "POST events to <ingest_url>/events with X-API-Key."
  value       = module.capi_relay.ingest_url
}

output "topic" {
  description = "Main topic path."
  value       = module.capi_relay.topic
}

output "dlq_subscription" {
  description = "Dead-letter pull subscription read by `capi replay`."
  value       = module.capi_relay.dlq_subscription
}

output "secret_ids" {
  description = "Secrets to fill with gcloud secrets versions add."
  value       = module.capi_relay.secret_ids
}

output "pixel_token_secret_ids" {
  description = "Token secret of each additional pixel (pixel id -> secret id) to fill with gcloud secrets versions add."
  value       = module.capi_relay.pixel_token_secret_ids
}

output "webhook_signing_secret_ids" {
  description = "Signing secret of each mapping's secret_env (name -> secret id) to fill with gcloud secrets versions add."
  value       = module.capi_relay.webhook_signing_secret_ids
}

output "pixels_config" {
  description = "CAPI_PIXELS as set on both functions (empty without routing)."
  value       = module.capi_relay.pixels_config
}

output "service_accounts" {
  description = "Service accounts created by the module."
  value       = module.capi_relay.service_accounts
}

output "next_steps" {
  description = "Commands to run after the first apply."
  value       = module.capi_relay.next_steps
}
