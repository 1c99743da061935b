# Log-based metrics over the relay's structured log lines, and a Cloud Monitoring dashboard.
#
# The functions write JSON lines (capi/ingest/intake.py: "ingest event", one per event;
# capi/forward/delivery_log.py: "events delivered", one per Graph request with counts;
# capi/forward/forwarder.py: "event dead-lettered", one per event). Cloud Run keeps a JSON line
# as jsonPayload; the filters and label extractors below read its fields by name, and
# tests/terraform/test_tf_metrics.py checks that every field named here is one the code writes.

locals {
  ingest_logs  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.ingest_function_name}\""
  forward_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.forward_function_name}\""

  # Identifiers whose coverage the dashboard shows (names of Meta's user_data keys).
  coverage_keys = ["em", "ph", "external_id", "fn", "ln", "zp", "client_ip_address", "client_user_agent", "fbp", "fbc"]

  metric_ingest_events   = "${local.prefix}/ingest_events"
  metric_delivered       = "${local.prefix}/delivered_events"
  metric_dead_letters    = "${local.prefix}/dead_letters"
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

# Delivered events are logged one line per Graph request ("events delivered", with `events`, the
# count): a distribution of that count, whose sum is the number of events delivered (charted with
# PromQL's `_sum` series, docs/ARCHITECTURE.md "Logs").
resource "google_logging_metric" "delivered_events" {
  project         = var.project_id
  name            = local.metric_delivered
  filter          = "${local.forward_logs} AND jsonPayload.message=\"events delivered\" AND jsonPayload.events>0"
  value_extractor = "EXTRACT(jsonPayload.events)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "capi-relay: events delivered to Meta, per Graph request"

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
      num_finite_buckets = 11
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.apis]
}

# Dead letters keep a line per event (each one needs attention): a counter.
resource "google_logging_metric" "dead_letters" {
  project = var.project_id
  name    = local.metric_dead_letters
  filter  = "${local.forward_logs} AND jsonPayload.message=\"event dead-lettered\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "capi-relay: events dead-lettered"

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
    dlq_reason = "EXTRACT(jsonPayload.dlq_reason)"
    error_code = "EXTRACT(jsonPayload.error_code)"
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "delivery_latency" {
  project         = var.project_id
  name            = local.metric_latency
  filter          = "${local.forward_logs} AND jsonPayload.message=\"events delivered\" AND jsonPayload.latency_ms>=0"
  value_extractor = "EXTRACT(jsonPayload.latency_ms)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "capi-relay: delivery latency, publish to Meta's answer (oldest event of each request)"

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

  # PromQL names of the metrics (Cloud Monitoring's mapping: the first "/" becomes ":", every
  # other character that is not a letter, digit or "_" becomes "_"). A log-based metric can
  # belong to several resource types, so the queries name the one the functions run as.
  promql_delivered_sum = "logging_googleapis_com:user_${replace(local.metric_delivered, "/[^A-Za-z0-9_]/", "_")}_sum"
  promql_dead_letters  = "logging_googleapis_com:user_${replace(local.metric_dead_letters, "/[^A-Za-z0-9_]/", "_")}"
  promql_resource      = "{monitored_resource=\"cloud_run_revision\"}"

  # Delivered events come from the per-request lines (the sum of their `events`), dead letters
  # from the per-event lines: one query gives both, by pixel, with an `outcome` label.
  promql_outcomes = join(" or ", [
    "sum by (pixel_id, outcome) (label_replace(increase(${local.promql_delivered_sum}${local.promql_resource}[1m]), \"outcome\", \"delivered\", \"\", \"\"))",
    "sum by (pixel_id, outcome) (label_replace(increase(${local.promql_dead_letters}${local.promql_resource}[1m]), \"outcome\", \"dead_lettered\", \"\", \"\"))",
  ])

  # The charts of the grid that sum a log-based metric per minute, grouped by labels.
  metric_tiles = [
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
      title  = "Match grade of accepted events"
      metric = local.metric_ingest_events
      filter = " AND metric.label.\"status\"=\"accepted\""
      group  = ["grade"]
    },
    {
      title  = "Meta errors of dead-lettered events, by code"
      metric = local.metric_dead_letters
      filter = ""
      group  = ["dlq_reason", "error_code"]
    },
  ]
  metric_charts = [
    for tile in local.metric_tiles : {
      title = tile.title
      query = {
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
    }
  ]
  # Each chart of the grid, one query each; the third is PromQL (delivered and dead-lettered).
  dashboard_tiles = concat(
    slice(local.metric_charts, 0, 2),
    [{ title = "Delivered and dead-lettered, by pixel", query = { prometheusQuery = local.promql_outcomes } }],
    slice(local.metric_charts, 2, 4),
  )

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
                    plotType        = "STACKED_BAR"
                    timeSeriesQuery = tile.query
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
              title = "Delivery latency, publish to Meta's answer, oldest event of each request (p50, p95)"
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
    google_logging_metric.delivered_events,
    google_logging_metric.dead_letters,
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
  filter      = local.successful_requests
}
