# Log-based metrics over the relay's structured log lines, and a Cloud Monitoring dashboard.
#
# The functions write one JSON line per event (capi/ingest/handler.py: "ingest event";
# capi/forward/forwarder.py: "event delivered", "event dead-lettered"). Cloud Run keeps a JSON line
# as jsonPayload; the filters and label extractors below read its fields by name, and
# tests/terraform/test_tf_metrics.py checks that every field named here is one the code writes.

locals {
  ingest_logs  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.ingest_function_name}\""
  forward_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.forward_function_name}\""

  # Identifiers whose coverage the dashboard shows (names of Meta's user_data keys).
  coverage_keys = ["em", "ph", "external_id", "fn", "ln", "zp", "client_ip_address", "client_user_agent", "fbp", "fbc"]

  metric_ingest_events   = "${local.prefix}/ingest_events"
  metric_deliveries      = "${local.prefix}/deliveries"
  metric_latency         = "${local.prefix}/delivery_latency"
  metric_coverage_prefix = "${local.prefix}/accepted_with_"
}

resource "google_logging_metric" "ingest_events" {
  project = var.project_id
  name    = local.metric_ingest_events
  filter  = "${local.ingest_logs} AND jsonPayload.message=\"ingest event\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "capi-relay: events received at ingest"

    labels {
      key         = "pixel_id"
      value_type  = "STRING"
      description = "The pixel (dataset) the event is for"
    }
    labels {
      key         = "event_name"
      value_type  = "STRING"
      description = "Meta event name"
    }
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "accepted, rejected, dropped (consent), or why an accepted event was not queued"
    }
    labels {
      key         = "grade"
      value_type  = "STRING"
      description = "The relay's match grade: strong, good, weak, none"
    }
    labels {
      key         = "source"
      value_type  = "STRING"
      description = "events, sgtm, shopify, stripe, webhook:<name>, graph"
    }
  }

  label_extractors = {
    pixel_id   = "EXTRACT(jsonPayload.pixel_id)"
    event_name = "EXTRACT(jsonPayload.event_name)"
    status     = "EXTRACT(jsonPayload.status)"
    grade      = "EXTRACT(jsonPayload.grade)"
    source     = "EXTRACT(jsonPayload.source)"
  }

  depends_on = [google_project_service.apis]
}

# One counter per identifier: accepted events that carry it after normalization. A log filter
# compares a list field element by element, so match_keys="em" selects the lines whose list holds em.
resource "google_logging_metric" "coverage" {
  for_each = toset(local.coverage_keys)

  project = var.project_id
  name    = "${local.metric_coverage_prefix}${each.key}"
  filter  = "${local.ingest_logs} AND jsonPayload.message=\"ingest event\" AND jsonPayload.status=\"accepted\" AND jsonPayload.match_keys=\"${each.key}\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "capi-relay: accepted events with ${each.key}"

    labels {
      key         = "pixel_id"
      value_type  = "STRING"
      description = "The pixel (dataset) the event is for"
    }
    labels {
      key         = "event_name"
      value_type  = "STRING"
      description = "Meta event name"
    }
  }

  label_extractors = {
    pixel_id   = "EXTRACT(jsonPayload.pixel_id)"
    event_name = "EXTRACT(jsonPayload.event_name)"
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "deliveries" {
  project = var.project_id
  name    = local.metric_deliveries
  filter  = "${local.forward_logs} AND jsonPayload.message=(\"event delivered\" OR \"event dead-lettered\")"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "capi-relay: events delivered to Meta or dead-lettered"

    labels {
      key         = "pixel_id"
      value_type  = "STRING"
      description = "The pixel (dataset)"
    }
    labels {
      key         = "event_name"
      value_type  = "STRING"
      description = "Meta event name"
    }
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "delivered or dead_lettered"
    }
    labels {
      key         = "dlq_reason"
      value_type  = "STRING"
      description = "Why an event was dead-lettered: rejected, config, invalid, poison, exhausted"
    }
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "Meta's error code of a dead-lettered event"
    }
  }

  label_extractors = {
    pixel_id   = "EXTRACT(jsonPayload.pixel_id)"
    event_name = "EXTRACT(jsonPayload.event_name)"
    outcome    = "EXTRACT(jsonPayload.outcome)"
    dlq_reason = "EXTRACT(jsonPayload.dlq_reason)"
    error_code = "EXTRACT(jsonPayload.error_code)"
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "delivery_latency" {
  project         = var.project_id
  name            = local.metric_latency
  filter          = "${local.forward_logs} AND jsonPayload.message=\"event delivered\" AND jsonPayload.latency_ms>=0"
  value_extractor = "EXTRACT(jsonPayload.latency_ms)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "capi-relay: delivery latency (published to delivered)"

    labels {
      key         = "pixel_id"
      value_type  = "STRING"
      description = "The pixel (dataset)"
    }
  }

  label_extractors = {
    pixel_id = "EXTRACT(jsonPayload.pixel_id)"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 1.5
      scale              = 10
    }
  }

  depends_on = [google_project_service.apis]
}

locals {
  user_metric = "logging.googleapis.com/user"

  # A chart of one log-based metric, summed per minute and grouped by the given labels.
  dashboard_tiles = [
    {
      title  = "Events at ingest, by status"
      metric = local.metric_ingest_events
      filter = ""
      group  = ["status"]
    },
    {
      title  = "Accepted events, by pixel and event name"
      metric = local.metric_ingest_events
      filter = " AND metric.label.\"status\"=\"accepted\""
      group  = ["pixel_id", "event_name"]
    },
    {
      title  = "Delivered and dead-lettered, by pixel"
      metric = local.metric_deliveries
      filter = ""
      group  = ["outcome", "pixel_id"]
    },
    {
      title  = "Match grade of accepted events"
      metric = local.metric_ingest_events
      filter = " AND metric.label.\"status\"=\"accepted\""
      group  = ["grade"]
    },
    {
      title  = "Meta errors of dead-lettered events, by code"
      metric = local.metric_deliveries
      filter = " AND metric.label.\"outcome\"=\"dead_lettered\""
      group  = ["dlq_reason", "error_code"]
    },
  ]

  dashboard = {
    displayName = "capi-relay (${local.prefix})"
    mosaicLayout = {
      columns = 48
      tiles = concat(
        [
          # The API leaves out positions that are 0, so a tile that states one would show a change
          # on every plan: a position is given only when it is not 0.
          for i, tile in local.dashboard_tiles : merge(
            i % 2 == 0 ? {} : { xPos = 24 },
            i < 2 ? {} : { yPos = floor(i / 2) * 16 },
            {
              width  = 24
              height = 16
              widget = {
                title = tile.title
                xyChart = {
                  dataSets = [{
                    plotType = "STACKED_BAR"
                    timeSeriesQuery = {
                      timeSeriesFilter = {
                        filter = "metric.type=\"${local.user_metric}/${tile.metric}\"${tile.filter}"
                        aggregation = {
                          alignmentPeriod    = "60s"
                          perSeriesAligner   = "ALIGN_SUM"
                          crossSeriesReducer = "REDUCE_SUM"
                          groupByFields      = [for label in tile.group : "metric.label.\"${label}\""]
                        }
                      }
                    }
                  }]
                  yAxis = { label = "events per minute", scale = "LINEAR" }
                }
              }
          })
        ],
        [
          {
            xPos   = 24
            yPos   = 32
            width  = 24
            height = 16
            widget = {
              title = "Identifier coverage: accepted events carrying each key"
              xyChart = {
                dataSets = [
                  for key in local.coverage_keys : {
                    plotType       = "LINE"
                    legendTemplate = key
                    timeSeriesQuery = {
                      timeSeriesFilter = {
                        filter = "metric.type=\"${local.user_metric}/${local.metric_coverage_prefix}${key}\""
                        aggregation = {
                          alignmentPeriod    = "60s"
                          perSeriesAligner   = "ALIGN_SUM"
                          crossSeriesReducer = "REDUCE_SUM"
                        }
                      }
                    }
                  }
                ]
                yAxis = { label = "events per minute", scale = "LINEAR" }
              }
            }
          },
          {
            yPos   = 48
            width  = 48
            height = 16
            widget = {
              title = "Delivery latency, published to delivered (p50, p95)"
              xyChart = {
                dataSets = [
                  for p in ["50", "95"] : {
                    plotType       = "LINE"
                    legendTemplate = "p${p}"
                    timeSeriesQuery = {
                      timeSeriesFilter = {
                        filter = "metric.type=\"${local.user_metric}/${local.metric_latency}\""
                        aggregation = {
                          alignmentPeriod    = "60s"
                          perSeriesAligner   = "ALIGN_PERCENTILE_${p}"
                          crossSeriesReducer = "REDUCE_MAX"
                        }
                      }
                    }
                  }
                ]
                yAxis = { label = "ms", scale = "LOG10" }
              }
            }
          },
        ],
      )
    }
  }
}

resource "google_monitoring_dashboard" "relay" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)

  depends_on = [
    google_logging_metric.ingest_events,
    google_logging_metric.coverage,
    google_logging_metric.deliveries,
    google_logging_metric.delivery_latency,
  ]
}

# Cloud Run writes one request log entry per request: per ingest request and, with delivery =
# "push", per push. Stored, they cost more than the relay's own lines at volume (docs/PERFORMANCE.md,
# "Cost model"): successful ones are excluded from storage; 4xx and 5xx stay, and so does every line
# the relay writes (the metrics above read those).
resource "google_logging_project_exclusion" "successful_requests" {
  count = var.exclude_successful_request_logs ? 1 : 0

  project     = var.project_id
  name        = "${local.prefix}-successful-requests"
  description = "capi-relay: Cloud Run's request logs of the relay's successful requests (status < 400)."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"${local.ingest_function_name}\" OR \"${local.forward_function_name}\") AND log_id(\"run.googleapis.com/requests\") AND httpRequest.status<400"
}
