# The pipeline's topics. Topic-level retention lets an operator seek a
# subscription back in time (replay after a bad deploy) without snapshots.
resource "google_pubsub_topic" "this" {
  for_each = var.topics

  project                    = var.project_id
  name                       = "${var.prefix}${each.key}"
  message_retention_duration = each.value.retention

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  #checkov:skip=CKV_GCP_83:Google-managed encryption is accepted for market data and derived features; CMEK would add a KMS key and a grant per service agent (see infra/terraform/README.md).
}
