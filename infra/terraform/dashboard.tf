# The operators' Cloud Monitoring dashboard. Its JSON (the Dashboard API's
# format) is infra/dashboards/cloud-monitoring.json, a template whose ${...}
# placeholders are filled here; tests/unit/deploy/test_terraform_wiring.py
# loads it, checks the tiles and that each query names a metric this
# configuration defines or Google documents
# (https://cloud.google.com/monitoring/api/metrics_gcp).
#
# Tiles: bridge connections, predictions/s, latency end to end and per hop,
# dead letters, live accuracy (a text tile: the scores live in Firestore and
# the bridge's /stats, not in Cloud Monitoring), push backlog, requests by
# response class, CPU and memory, instances, Redis. For Grafana, see
# infra/grafana/ and docs/OPERATIONS.md (Prometheus /metrics of the bridge).

# Predictions per second: one structured "predicted" line per prediction
# (predict/stage.py), whether or not its trace has an event time.
resource "google_logging_metric" "predictions" {
  name        = "${var.name_prefix}_predictions"
  description = "Predictions written, counted from the predict stage's structured logs (message \"predicted\")."
  filter      = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${module.functions["predict"].function_name}\" AND jsonPayload.message = \"predicted\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tickcast predictions"
  }
}

resource "google_monitoring_dashboard" "main" {
  dashboard_json = templatefile("${path.module}/../dashboards/cloud-monitoring.json", {
    environment             = var.environment
    name_prefix             = var.name_prefix
    topic_prefix            = var.topic_prefix
    bridge_service          = google_cloud_run_v2_service.bridge.name
    ingest_service          = module.functions["ingest"].function_name
    features_service        = module.functions["features"].function_name
    predict_service         = module.functions["predict"].function_name
    deadletter_subscription = google_pubsub_subscription.deadletter_inspect.name
    redis_instance_id       = google_redis_instance.state.id
    connections_metric      = google_logging_metric.bridge_connections.name
    e2e_latency_metric      = google_logging_metric.e2e_latency.name
    predictions_metric      = google_logging_metric.predictions.name
  })

  depends_on = [google_project_service.enabled]
}
