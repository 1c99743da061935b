# Provider requirements. The configuration is written to be valid on google 6.50 and on the whole
# 7.x line: it avoids every argument the 7.0 upgrade guide removes or turns read-only (notably
# google_cloudfunctions2_function.service_config.service) and sets every argument whose default
# changed in 7.0 (google_project_service.disable_on_destroy) explicitly.
# `terraform validate` and `terraform test` check it offline against the 6.50.0 schema
# (tests/terraform/test_tf_validate.py, with the stand-in providers of tests/terraform/standin_provider).
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.50.0, < 8.0.0"
    }
    # google_project_service_identity (the Pub/Sub service agent, created before it is granted
    # roles) exists in the beta provider only; nothing else of the module uses it.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.50.0, < 8.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0, < 3.0.0"
    }
    # time_sleep: waits for IAM grants to propagate before they are used (iam.tf).
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9.0, < 1.0.0"
    }
  }
}
