# The queue between ingest and forward.
#
# A subscription of our own rather than the function's built-in (Eventarc) trigger: the built-in
# trigger cannot be given a dead-letter topic in Terraform, keeps messages 24 hours and does not
# retry by default. This one keeps undelivered events for var.message_retention_duration and
# dead-letters after var.max_delivery_attempts. It is a pull subscription that forward drains
# (var.delivery = "drain", scheduler.tf) or a push subscription to forward ("push").

resource "google_pubsub_topic" "events" {
  # checkov:skip=CKV_GCP_83:Customer-managed encryption is offered through var.kms_key_name (see the production example); without it Pub/Sub encrypts with Google-managed keys. Making CMEK mandatory would force every user to run Cloud KMS.
  project      = var.project_id
  name         = local.topic_name
  kms_key_name = var.kms_key_name
  labels       = local.labels

  # The events hold customer information: stored and processed only in data_regions (docs/PRIVACY.md).
  message_storage_policy {
    allowed_persistence_regions = local.data_regions
    enforce_in_transit          = var.enforce_in_transit
  }

  lifecycle {
    precondition {
      condition     = !var.enforce_in_transit || contains(local.data_regions, var.region)
      error_message = "enforce_in_transit: the functions run in var.region, which must be one of data_regions (else Pub/Sub refuses their every request)."
    }
  }

  # The agent's grants (CMEK key, push account), applied everywhere (iam.tf).
  depends_on = [google_project_service.apis, time_sleep.pubsub_agent_grants]
}

resource "google_pubsub_topic" "dlq" {
  # checkov:skip=CKV_GCP_83:Customer-managed encryption is offered through var.kms_key_name (see the production example); without it Pub/Sub encrypts with Google-managed keys. Making CMEK mandatory would force every user to run Cloud KMS.
  project      = var.project_id
  name         = local.dlq_topic_name
  kms_key_name = var.kms_key_name
  labels       = local.labels

  message_storage_policy {
    allowed_persistence_regions = local.data_regions
    enforce_in_transit          = var.enforce_in_transit
  }

  # The agent's grants (CMEK key, push account), applied everywhere (iam.tf).
  depends_on = [google_project_service.apis, time_sleep.pubsub_agent_grants]
}

# Holds every event for forward. Drain: forward pulls (roles/pubsub.subscriber on this subscription
# only) and gives back what is to be retried with its own backoff (capi/forward/drainer.py). Push:
# Pub/Sub signs each push with an OIDC token of the invoker account; Cloud Run checks it
# (roles/run.invoker on the forward service only, iam.tf). Switching var.delivery changes the push
# configuration in place: the events waiting in the subscription stay.
resource "google_pubsub_subscription" "forward" {
  project = var.project_id
  name    = local.push_subscription_name
  topic   = google_pubsub_topic.events.id
  labels  = local.labels

  # Push: forward answers within its timeout; Pub/Sub waits that long before it counts a delivery
  # as failed. Drain: forward extends the deadline while Meta answers; one delivery fits in it.
  ack_deadline_seconds       = var.forward.timeout_seconds
  message_retention_duration = var.message_retention_duration
  retain_acked_messages      = false

  dynamic "push_config" {
    for_each = local.drain ? [] : [google_cloudfunctions2_function.forward.service_config[0].uri]

    content {
      push_endpoint = push_config.value

      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = push_config.value
      }
    }
  }

  # Pub/Sub's backoff for nacked pushes; the drain applies the same bounds itself (it gives a
  # message back with a deadline of 10 s doubling to 600 s: an explicit nack's backoff).
  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dlq.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Never expire, however quiet the relay is (the default deletes a subscription after 31 idle days).
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.forward_invoker_push,
    google_pubsub_topic_iam_member.dlq_publisher_pubsub_agent,
  ]
}

moved {
  from = google_pubsub_subscription.push
  to   = google_pubsub_subscription.forward
}

# Holds dead-lettered events (undeliverable after max_delivery_attempts, or rejected by Meta for good
# and published here by forward with the reason) for inspection and `capi replay`. A dead-letter
# topic without a subscription would drop them.
resource "google_pubsub_subscription" "dlq" {
  project = var.project_id
  name    = local.dlq_subscription_name
  topic   = google_pubsub_topic.dlq.id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = var.dlq_message_retention_duration
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}
