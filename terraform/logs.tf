# Where the relay's logs are stored (issue 28, docs/PRIVACY.md). By default (var.regional_logs)
# every log entry of the two functions (the relay's own lines, Cloud Run's request and system
# logs) is routed to a log bucket of the module's own, in var.region with var.log_retention_days,
# and kept out of the project's _Default bucket (which is global unless an organization set a
# default location). The relay's lines carry no customer value (capi/logs.py redacts them), but
# they carry event ids, pixels and match keys, and a data-processing agreement may name the
# region of every record.
#
# The log-based metrics (metrics.tf) still count these lines: user-defined metrics are computed
# from every entry the Logging API receives, whatever sinks and exclusions do with it (Cloud
# Logging's "Log-based metrics overview"). The exclusion below is one of the _Default sink's: a
# project exclusion applies to the _Default sink only ("Creates a new exclusion in the _Default
# sink", projects.exclusions.create), so it does not stop the sink of this file.

locals {
  relay_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"${local.ingest_function_name}\" OR \"${local.forward_function_name}\")"
  # Cloud Run's request logs of successful requests (metrics.tf excludes them from _Default)
  successful_requests = "${local.relay_logs} AND log_id(\"run.googleapis.com/requests\") AND httpRequest.status<400"
  log_bucket_id       = "${local.prefix}-relay-logs"
}

resource "google_logging_project_bucket_config" "relay" {
  count = var.regional_logs ? 1 : 0

  project        = var.project_id
  location       = var.region
  bucket_id      = local.log_bucket_id
  retention_days = var.log_retention_days
  description    = "capi-relay: the ingest and forward functions' logs, kept in ${var.region}."

  depends_on = [google_project_service.apis]
}

resource "google_logging_project_sink" "relay" {
  count = var.regional_logs ? 1 : 0

  project     = var.project_id
  name        = "${local.prefix}-relay-logs"
  description = "capi-relay: the functions' logs to the relay's regional log bucket."
  destination = "logging.googleapis.com/projects/${var.project_id}/locations/${var.region}/buckets/${local.log_bucket_id}"
  filter      = local.relay_logs
  # A log bucket in the sink's own project needs no grant to the writer identity.
  unique_writer_identity = true

  dynamic "exclusions" {
    for_each = var.exclude_successful_request_logs ? [1] : []
    content {
      name        = "successful-requests"
      description = "Cloud Run's request logs of successful requests (status < 400)."
      filter      = local.successful_requests
    }
  }

  depends_on = [google_logging_project_bucket_config.relay]
}

resource "google_logging_project_exclusion" "relay_logs_from_default" {
  count = var.regional_logs ? 1 : 0

  project     = var.project_id
  name        = "${local.prefix}-relay-logs"
  description = "capi-relay: the functions' logs are stored in their regional bucket (logs.tf), not in _Default."
  filter      = local.relay_logs

  # Excluded only once the sink stores them elsewhere: no entry is lost between the two.
  depends_on = [google_logging_project_sink.relay]
}
