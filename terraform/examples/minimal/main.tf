# The smallest deployment: defaults everywhere, local state. See ../production for a remote state
# backend, alert notifications, CMEK and warm instances.

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

module "capi_relay" {
  source = "../.."

  project_id      = var.project_id
  region          = var.region
  pixel_id        = var.pixel_id
  test_event_code = var.test_event_code
  webhook_sources = var.webhook_sources
}
