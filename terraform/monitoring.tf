# Alerts. Both name the subscription they watch and say what to do in their documentation.

resource "google_monitoring_alert_policy" "dlq_not_empty" {
  project               = var.project_id
  display_name          = "capi-relay: events dead-lettered (${local.dlq_subscription_name})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Dead-letter subscription holds messages"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dlq.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Events could not be delivered to Meta and were moved to the dead-letter topic
      `${local.dlq_topic_name}`. Each message carries the reason (Meta error code and subcode).
      Look at the forward function's logs, fix the cause (token, pixel id, event data), then move
      the events back with `capi replay` (pulls from `${google_pubsub_subscription.dlq.id}`).
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "delivery_backlog" {
  project               = var.project_id
  display_name          = "capi-relay: events waiting for delivery (${local.push_subscription_name})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Oldest unacked event older than ${var.alert_oldest_unacked_age_seconds}s"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.forward.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_age_seconds
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Events published to `${local.topic_name}` are not being delivered: the oldest has waited more
      than ${var.alert_oldest_unacked_age_seconds} seconds. Forward is failing (Meta outage, rate
      limits, token) or cannot be reached. Check the forward function's logs and errors. Events are
      kept for ${var.message_retention_duration} and dead-lettered after ${var.max_delivery_attempts}
      delivery attempts.
    EOT
  }

  depends_on = [google_project_service.apis]
}
