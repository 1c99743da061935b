# Function source: main.py, requirements.txt and the capi/ package without the command-line tools
# (capi/tools, capi/__main__.py), nothing else, zipped and stored
# in a private bucket. The object name carries a hash of the files' names and contents, so any code
# change creates a new object, which changes both functions' storage_source and redeploys them.
# The hash is computed from the files rather than from the zip, so it does not change with the
# archive provider's version or the checkout's file times.

locals {
  source_root = coalesce(var.source_dir, "${path.module}/..")

  source_files = sort(concat(
    ["main.py", "requirements.txt"],
    [
      # the package without caches and dot files, and without the command line (capi/tools,
      # python -m capi), which is not part of the functions
      for f in fileset(local.source_root, "capi/**") : f
      if !strcontains(f, "__pycache__") && !endswith(f, ".pyc") && !startswith(basename(f), ".") && !startswith(f, "capi/tools/") && f != "capi/__main__.py"
    ],
  ))

  source_hash = sha256(join("\n", [
    for f in local.source_files : "${f} ${filesha256("${local.source_root}/${f}")}"
  ]))
}

data "archive_file" "source" {
  type             = "zip"
  output_path      = "${path.module}/build/${local.prefix}-function-source.zip"
  output_file_mode = "0644"

  dynamic "source" {
    for_each = toset(local.source_files)
    content {
      filename = source.value
      content  = file("${local.source_root}/${source.value}")
    }
  }
}

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_62:Access logs for this bucket add nothing: it holds only the function source zip (no data), is written by Terraform alone and read by Cloud Functions; Cloud Audit Logs record admin access.
  name                        = "${var.project_id}-${local.prefix}-function-source"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  versioning {
    enabled = true
  }

  # Sources replaced by a newer deployment become noncurrent versions; keep them a month for
  # forensics, then delete them.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  name         = "${local.prefix}/function-source-${local.source_hash}.zip"
  bucket       = google_storage_bucket.source.name
  source       = data.archive_file.source.output_path
  content_type = "application/zip"

  lifecycle {
    create_before_destroy = true
  }
}

# Images built from the source. A repository of our own (rather than the default gcf-artifacts)
# lets the build service account write to this one repository only, and lets old images expire.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:The images are rebuilt from the public source in this repository and hold no secrets or customer data; Google-managed encryption is sufficient. Events (personal data) are CMEK-encryptable through var.kms_key_name.
  project                = var.project_id
  location               = var.region
  repository_id          = "${local.prefix}-functions"
  description            = "Container images built by Cloud Build for the capi-relay functions."
  format                 = "DOCKER"
  cleanup_policy_dry_run = false
  labels                 = local.labels

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.apis]
}
