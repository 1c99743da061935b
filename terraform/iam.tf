# Identities and every grant of the module, each on the single resource it is needed for.
#
#   ingest SA   publisher on topic <prefix>-events; secretAccessor on the API-keys secret, the two
#               webhook signing secrets and the signing secret of each generic webhook mapping
#               (var.webhook_signing_secrets: one grant per secret)
#   forward SA  publisher on topic <prefix>-events-dlq (permanent failures, with the reason);
#               secretAccessor on the Meta token secret and on each additional pixel's token secret
#               (var.pixels: one grant per secret)
#   forward SA  (drain) subscriber on the events subscription: pull, ack, modify ack deadlines
#   push SA     the invoker account (account id <prefix>-push): run.invoker on the forward function's
#               Cloud Run service, the only identity that may call forward; it is in the OIDC token
#               of Cloud Scheduler's /drain call (drain) or of Pub/Sub's pushes (push)
#   build SA    builds the function images: log writer (project: logs have no finer resource),
#               writer on the module's image repository, reader of the function sources
#   Pub/Sub service agent (Google-managed): publisher on the DLQ topic and subscriber on the events
#               subscription (needed to dead-letter), token creator on the push SA (OIDC), and
#               encrypt/decrypt on the CMEK key when var.kms_key_name is set
#
# First apply on a new project: a grant takes up to a few minutes to apply everywhere, and Google
# creates the Pub/Sub service agent only some time after the API is enabled. So the agent is
# created here before it is granted anything (google_project_service_identity), and what uses a
# fresh grant waits var.iam_propagation_delay for it (time_sleep, as the google provider's own
# Cloud Functions examples do): the function builds wait for the build account's grants, the topics
# for the agent's use of the CMEK key and of the push account.
#
# No project-wide editor/owner, and allUsers only as invoker of ingest (var.ingest_invoker_members).

# ---------------------------------------------------------------------------------------------
# Service accounts
# ---------------------------------------------------------------------------------------------

resource "google_service_account" "ingest" {
  project      = var.project_id
  account_id   = "${local.prefix}-ingest"
  display_name = "capi-relay ingest function"
  description  = "Runtime identity of ${local.ingest_function_name}: publishes events, reads the ingest API keys and webhook secrets."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "forward" {
  project      = var.project_id
  account_id   = "${local.prefix}-forward"
  display_name = "capi-relay forward function"
  description  = "Runtime identity of ${local.forward_function_name}: reads the Meta token secrets, publishes permanent failures to the DLQ."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${local.prefix}-push"
  display_name = "capi-relay forward invoker"
  description  = "Identity in the OIDC token of Cloud Scheduler's drain call or of the ${local.push_subscription_name} push subscription; may only invoke ${local.forward_function_name}."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.prefix}-build"
  display_name = "capi-relay function builds"
  description  = "Cloud Build identity that builds the capi-relay function images."

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------------------------------------
# ingest
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "events_publisher_ingest" {
  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.ingest.member
}

resource "google_secret_manager_secret_iam_member" "api_keys_accessor_ingest" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.api_keys.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}

resource "google_secret_manager_secret_iam_member" "shopify_webhook_secret_accessor_ingest" {
  for_each  = google_secret_manager_secret.shopify_webhook_secret
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}

resource "google_secret_manager_secret_iam_member" "stripe_webhook_secret_accessor_ingest" {
  for_each  = google_secret_manager_secret.stripe_webhook_secret
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}

# The signing secret of each generic webhook mapping with verify (var.webhook_signing_secrets), one
# grant per secret: ingest checks those signatures. forward never sees the requests, so no grant.
resource "google_secret_manager_secret_iam_member" "webhook_signing_accessor_ingest" {
  for_each = google_secret_manager_secret.webhook_signing

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}

# Public invocation of ingest: callers are authenticated by API key in the code.
resource "google_cloud_run_v2_service_iam_member" "ingest_invoker" {
  # checkov:skip=CKV_GCP_102:ingest must be callable by sGTM, webhook senders and backends that hold no Google identity; the function itself rejects any request without a valid API key (401). The member list is var.ingest_invoker_members.
  for_each = toset(var.ingest_invoker_members)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.ingest.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# ---------------------------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "dlq_publisher_forward" {
  project = var.project_id
  topic   = google_pubsub_topic.dlq.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.forward.member
}

resource "google_secret_manager_secret_iam_member" "meta_token_accessor_forward" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.meta_token.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.forward.member
}

# The token secret of each additional pixel (var.pixels), one grant per secret: forward reads the
# token of the pixel an event goes to. ingest receives the same CAPI_PIXELS, which names these
# secrets, but only routes with it and never reads them, so it gets no grant.
resource "google_secret_manager_secret_iam_member" "pixel_token_accessor_forward" {
  for_each = google_secret_manager_secret.pixel_token

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.forward.member
}

# Only the invoker account (Cloud Scheduler's drain call, or Pub/Sub's pushes) may invoke forward.
resource "google_cloud_run_v2_service_iam_member" "forward_invoker_push" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.forward.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# ---------------------------------------------------------------------------------------------
# Pub/Sub service agent
# ---------------------------------------------------------------------------------------------

# Creates the agent now (a no-op when it exists). In the beta provider only; serviceUsage's
# generateServiceIdentity permission, which no predefined role but Owner/Editor holds, is in the
# deployer's custom role (docs/DEPLOY.md).
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.apis]
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the DLQ topic and
# acknowledge (subscriber) on the source subscription.
resource "google_pubsub_topic_iam_member" "dlq_publisher_pubsub_agent" {
  project = var.project_id
  topic   = google_pubsub_topic.dlq.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "push_subscriber_pubsub_agent" {
  project      = var.project_id
  subscription = google_pubsub_subscription.forward.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The drain pulls, acks and extends ack deadlines on the events subscription, and nothing else.
resource "google_pubsub_subscription_iam_member" "forward_subscriber_drain" {
  count = local.drain ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.forward.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.forward.member
}

# The service agent mints the push OIDC tokens as the push SA. Projects created after 2021-04-08
# get this through the agent's own role; older projects need it granted, so it is granted here,
# on the push SA only (whose one power is invoking forward) rather than project-wide.
resource "google_service_account_iam_member" "push_token_creator_pubsub_agent" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# CMEK for the topics: Pub/Sub encrypts with the key as its service agent.
resource "google_kms_crypto_key_iam_member" "pubsub_topics" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_service_agent
}

# ---------------------------------------------------------------------------------------------
# Function builds
# ---------------------------------------------------------------------------------------------

# Build logs. Log writing cannot be granted on anything narrower than the project.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# Cloud Functions copies each deployment's source into its own bucket
# gcf-v2-sources-<project number>-<region>[-<key hash>], which Cloud Build then reads. That bucket is
# created by Cloud Functions on first deploy, so the read grant is project-level but conditioned to
# those buckets only.
resource "google_project_iam_member" "build_function_sources_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "cloud-functions-source-buckets-only"
    description = "Objects of the Cloud Functions source buckets of this project and region."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${local.project_number}-${var.region}\")"
  }
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.repository_id
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# ---------------------------------------------------------------------------------------------
# Waiting for grants to propagate (first apply)
# ---------------------------------------------------------------------------------------------

# The function builds run as the build account as soon as the functions are created: its grants
# must be in force by then, or the build fails on a permission (functions.tf depends on this).
resource "time_sleep" "build_grants" {
  create_duration = var.iam_propagation_delay

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_function_sources_reader,
    google_storage_bucket_iam_member.build_source_reader,
    google_artifact_registry_repository_iam_member.build_writer,
  ]
}

# Pub/Sub uses the agent's grants when a CMEK topic is created (the key) and when it first mints a
# push token (the push account): the topics wait for both (pubsub.tf).
resource "time_sleep" "pubsub_agent_grants" {
  create_duration = var.iam_propagation_delay

  depends_on = [
    google_kms_crypto_key_iam_member.pubsub_topics,
    google_service_account_iam_member.push_token_creator_pubsub_agent,
  ]
}

# ---------------------------------------------------------------------------------------------
# Operators allowed to run `capi replay` (optional)
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_subscription_iam_member" "dlq_subscriber_operators" {
  for_each = toset(var.dlq_operators)

  project      = var.project_id
  subscription = google_pubsub_subscription.dlq.name
  role         = "roles/pubsub.subscriber"
  member       = each.value
}

resource "google_pubsub_topic_iam_member" "events_publisher_operators" {
  for_each = toset(var.dlq_operators)

  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = each.value
}
