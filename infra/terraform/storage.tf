# Function sources (sources/) and model artifacts (models/).
resource "google_storage_bucket" "artifacts" {
  name                        = "${var.project_id}-${var.name_prefix}-artifacts"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Source zips are content-addressed and only needed for the build; old
  # ones go after 90 days, and replaced versions after 30.
  lifecycle_rule {
    condition {
      age            = 90
      matches_prefix = ["sources/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]

  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (Data Access logs for GCS); usage-log export to a second bucket would itself need a log sink bucket.
}

data "archive_file" "function" {
  for_each = local.functions

  type        = "zip"
  source_dir  = "${local.build_dir}/${each.key}"
  output_path = "${local.build_dir}/${each.key}.zip"
}

resource "google_storage_bucket_object" "function_source" {
  for_each = local.functions

  # The content hash in the name makes a code change a new object, which
  # changes build_config.source and so redeploys the function.
  name         = "sources/${each.key}-${data.archive_file.function[each.key].output_md5}.zip"
  bucket       = google_storage_bucket.artifacts.name
  source       = data.archive_file.function[each.key].output_path
  content_type = "application/zip"
}
