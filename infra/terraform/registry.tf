# ws_bridge images. Tags are immutable: a tag is a commit, so a rollback is
# re-applying an older tag, never a moved "latest".
resource "google_artifact_registry_repository" "images" {
  repository_id = "${var.name_prefix}-images"
  location      = var.region
  format        = "DOCKER"
  description   = "tickcast ws_bridge images"

  docker_config {
    immutable_tags = true
  }

  depends_on = [google_project_service.enabled]

  #checkov:skip=CKV_GCP_84:Google-managed encryption is accepted for application images; CMEK would need a KMS key and service-agent grants (see infra/terraform/README.md).
}

# Images that Cloud Build makes from the function sources. Separate from
# "images" because the functions build re-tags its cache image (mutable tags).
resource "google_artifact_registry_repository" "functions" {
  repository_id = "${var.name_prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "tickcast Cloud Functions build output"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]

  #checkov:skip=CKV_GCP_84:Google-managed encryption is accepted for build output; CMEK would need a KMS key and service-agent grants (see infra/terraform/README.md).
}
