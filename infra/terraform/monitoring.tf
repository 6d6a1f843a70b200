locals {
  function_service_names = [for m in module.functions : m.function_name]
  functions_filter       = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = one_of(${join(", ", [for n in local.function_service_names : "\"${n}\""])})"
  bridge_filter          = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${google_cloud_run_v2_service.bridge.name}\""
  deadletter_filter      = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.deadletter_inspect.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
  latency_metric_type    = "logging.googleapis.com/user/${google_logging_metric.e2e_latency.name}"
  connections_type       = "logging.googleapis.com/user/${google_logging_metric.bridge_connections.name}"
}

# End-to-end latency: the predict stage logs one structured line per
# prediction ("predicted", with `latency_ms` = event time -> prediction
# written, from the message trace; null when the trace has no event time).
resource "google_logging_metric" "e2e_latency" {
  name        = "${var.name_prefix}_e2e_latency_ms"
  description = "End-to-end latency (ms) reported by the predict stage's structured logs (field latency_ms)."
  filter      = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${module.functions["predict"].function_name}\" AND jsonPayload.message = \"predicted\" AND jsonPayload.latency_ms >= 0"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "tickcast end-to-end latency"
  }

  value_extractor = "EXTRACT(jsonPayload.latency_ms)"

  # 1 ms .. ~27 min in 25% steps.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 64
      growth_factor      = 1.25
      scale              = 1
    }
  }
}

# WebSocket connections accepted by the bridge: one structured log line per
# accepted connection (var.bridge_connect_log_filter). Concurrent connections
# are charted from Cloud Run's own request-concurrency metric, since every
# open WebSocket is one in-flight request.
resource "google_logging_metric" "bridge_connections" {
  name        = "${var.name_prefix}_bridge_connections"
  description = "WebSocket connections accepted by ws_bridge (counted from its structured logs)."
  filter      = "${local.bridge_filter} AND ${var.bridge_connect_log_filter}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tickcast bridge connections opened"
  }
}

resource "google_monitoring_alert_policy" "deadletter_backlog" {
  display_name          = "${var.name_prefix}: dead-letter backlog"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Messages waiting on ${google_pubsub_subscription.deadletter_inspect.name}"
    condition_threshold {
      filter          = local.deadletter_filter
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.deadletter_backlog
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages were dead-lettered (bad input, or a transient error that outlived ${local.topology.push.max_delivery_attempts} attempts). Inspect: `gcloud pubsub subscriptions pull ${google_pubsub_subscription.deadletter_inspect.name} --limit=10 --format=json` (attributes stage/reason/error); after the fix, `tickcast deadletter replay --dry-run`, then without --dry-run. See docs/OPERATIONS.md, deadletter_backlog."
  }
}

resource "google_monitoring_alert_policy" "function_errors" {
  display_name          = "${var.name_prefix}: function 5xx"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "5xx responses per second, by function"
    condition_threshold {
      filter          = "${local.functions_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.function_5xx_per_s
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A function keeps answering 5xx: transient failures (Redis, Firestore) are retried with backoff and end in the dead-letter topic if they last. Check the function's logs for severity>=ERROR. See docs/OPERATIONS.md, function_errors."
  }
}

resource "google_monitoring_alert_policy" "e2e_latency" {
  display_name          = "${var.name_prefix}: end-to-end latency p99"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "p99 latency_ms above ${var.alert_thresholds.e2e_latency_p99_ms} ms"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.latency_metric_type}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.e2e_latency_p99_ms
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Predictions arrive late. Look at push backlogs (dashboard), at function instance counts hitting max_instances, and at the bridge's /stats hops_ms. See docs/OPERATIONS.md, e2e_latency."
  }
}

resource "google_monitoring_alert_policy" "redis_memory" {
  display_name          = "${var.name_prefix}: Redis memory"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Memory usage ratio above ${var.alert_thresholds.redis_memory_ratio}"
    condition_threshold {
      filter          = "resource.type = \"redis_instance\" AND resource.labels.instance_id = \"${google_redis_instance.state.id}\" AND metric.type = \"redis.googleapis.com/stats/memory/usage_ratio\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.redis_memory_ratio
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "maxmemory-policy is noeviction: when Redis is full, writes fail and messages are retried, then dead-lettered. Grow redis_memory_size_gb or lower TICKCAST_DEDUPE_TTL_S (see `tickcast cost`). See docs/OPERATIONS.md, redis_memory."
  }
}

# Bridge listener restarts: the watchdog logs "restarting listener" (collection,
# reason) each time it restarts a Firestore watch that died or went silent. The
# alerts listener is also restarted once per alerts window to move its range
# forward ("moving its range forward ..."): routine, so not counted.
resource "google_logging_metric" "bridge_listener_restarts" {
  name        = "${var.name_prefix}_bridge_listener_restarts"
  description = "Firestore listeners the ws_bridge watchdog restarted because they died or went silent (by collection)."
  filter      = "${local.bridge_filter} AND jsonPayload.message = \"restarting listener\" AND NOT jsonPayload.reason =~ \"^moving its range forward\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tickcast bridge listener restarts"
    labels {
      key         = "collection"
      value_type  = "STRING"
      description = "The Firestore collection the listener watches."
    }
  }

  label_extractors = {
    collection = "EXTRACT(jsonPayload.collection)"
  }
}

resource "google_monitoring_alert_policy" "bridge_listener_restarts" {
  display_name          = "${var.name_prefix}: bridge listener restart storm"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than ${var.alert_thresholds.listener_restarts_per_10m} listener restarts in 10 minutes, by collection"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.bridge_listener_restarts.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.listener_restarts_per_10m
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.collection"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The bridge keeps restarting its Firestore listeners: watches die (Firestore errors, quota) or go silent (no symbols/ change for TICKCAST_WS_LISTENER_SILENCE_S: the pipeline upstream may have stopped). Check `/health` (reasons) and `/readyz` on the bridge. See docs/OPERATIONS.md, listener restart storm."
  }
}

resource "google_monitoring_dashboard" "main" {
  dashboard_json = jsonencode({
    displayName = "tickcast (${var.environment})"
    mosaicLayout = {
      columns = 12
      tiles = [
        {
          xPos = 0, yPos = 0, width = 6, height = 4
          widget = {
            title = "Dead-letter backlog"
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter      = local.deadletter_filter
                    aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX" }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 6, yPos = 0, width = 6, height = 4
          widget = {
            title = "Push backlog by subscription"
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter      = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = starts_with(\"${var.topic_prefix}\") AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
                    aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX" }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 0, yPos = 4, width = 6, height = 4
          widget = {
            title = "Function requests/s by response class"
            xyChart = {
              dataSets = [{
                plotType = "STACKED_AREA"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "${local.functions_filter} AND metric.type = \"run.googleapis.com/request_count\""
                    aggregation = {
                      alignmentPeriod    = "60s"
                      perSeriesAligner   = "ALIGN_RATE"
                      crossSeriesReducer = "REDUCE_SUM"
                      groupByFields      = ["resource.label.service_name", "metric.label.response_code_class"]
                    }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 6, yPos = 4, width = 6, height = 4
          widget = {
            title = "End-to-end latency (ms), p50 and p99"
            xyChart = {
              dataSets = [
                for reducer in ["REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_99"] : {
                  plotType = "LINE"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter      = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.latency_metric_type}\""
                      aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = reducer }
                    }
                  }
                }
              ]
            }
          }
        },
        {
          xPos = 0, yPos = 8, width = 6, height = 4
          widget = {
            title = "Bridge: open WebSockets per instance (max) and connections opened/s"
            xyChart = {
              dataSets = [
                {
                  plotType = "LINE"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "${local.bridge_filter} AND metric.type = \"run.googleapis.com/container/max_request_concurrencies\""
                      aggregation = {
                        alignmentPeriod    = "60s"
                        perSeriesAligner   = "ALIGN_DELTA"
                        crossSeriesReducer = "REDUCE_PERCENTILE_99"
                      }
                    }
                  }
                },
                {
                  plotType = "LINE"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter      = "${local.bridge_filter} AND metric.type = \"${local.connections_type}\""
                      aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM" }
                    }
                  }
                },
              ]
            }
          }
        },
        {
          xPos = 6, yPos = 8, width = 6, height = 4
          widget = {
            title = "Instances (functions and bridge)"
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/container/instance_count\""
                    aggregation = {
                      alignmentPeriod    = "60s"
                      perSeriesAligner   = "ALIGN_MAX"
                      crossSeriesReducer = "REDUCE_SUM"
                      groupByFields      = ["resource.label.service_name"]
                    }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 0, yPos = 12, width = 6, height = 4
          widget = {
            title = "Redis memory usage ratio"
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter      = "resource.type = \"redis_instance\" AND resource.labels.instance_id = \"${google_redis_instance.state.id}\" AND metric.type = \"redis.googleapis.com/stats/memory/usage_ratio\""
                    aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX" }
                  }
                }
              }]
            }
          }
        },
      ]
    }
  })

  depends_on = [google_project_service.enabled]
}
