output "ingest_url" {
  description = "POST events to <ingest_url>/events with X-API-Key."
  value       = module.capi_relay.ingest_url
}

output "secret_ids" {
  description = "Secrets to fill with gcloud secrets versions add."
  value       = module.capi_relay.secret_ids
}

output "next_steps" {
  description = "Commands to run after the first apply."
  value       = module.capi_relay.next_steps
}
