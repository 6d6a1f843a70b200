# A tick of time, every minute: features closes bars that got no late tick.
# Pub/Sub targets are published by the Cloud Scheduler service agent, which
# already holds the permission through its own role.
resource "google_cloud_scheduler_job" "clock" {
  name        = "${var.name_prefix}-clock"
  region      = var.region
  description = "Publishes to ${module.topics.names["clock"]} every minute."
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = module.topics.ids["clock"]
    data       = base64encode(jsonencode({ v = 1, source = "cloud-scheduler" }))
    # `kind = "clock"` is how features and predict tell a clock tick from data.
    attributes = {
      kind   = "clock"
      source = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.enabled]
}
