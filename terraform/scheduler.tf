# The drain (var.delivery = "drain"): Cloud Scheduler calls forward's POST /drain on
# var.drain.schedule (every minute), with an OIDC token of the invoker account; forward empties the
# events subscription in batches of up to 1,000 events per Graph request (capi/forward/drainer.py).
#
# Cloud Scheduler mints the token through its own service agent, which Google grants
# roles/cloudscheduler.serviceAgent when the API is enabled (projects that enabled it before
# 2019-03-19 must grant it by hand: docs/DEPLOY.md). The deployer needs actAs on the invoker
# account (roles/iam.serviceAccountUser) to name it in the job. Cloud Scheduler of the same project
# counts as internal traffic, so forward keeps ALLOW_INTERNAL_ONLY.

resource "google_cloud_scheduler_job" "drain" {
  count = local.drain ? 1 : 0

  project     = var.project_id
  region      = var.region
  name        = local.drain_job_name
  description = "capi-relay: drains ${local.push_subscription_name} into the Meta Conversions API."
  schedule    = var.drain.schedule
  time_zone   = "Etc/UTC"
  # forward answers when the drain ends: within its budget plus one batch (its timeout).
  attempt_deadline = "${var.drain.timeout_seconds}s"

  # The next run is the retry: a failed drain leaves its events in the subscription.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.forward.service_config[0].uri}/drain"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.forward.service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.apis,
    google_cloud_run_v2_service_iam_member.forward_invoker_push,
    google_pubsub_subscription_iam_member.forward_subscriber_drain,
  ]
}
