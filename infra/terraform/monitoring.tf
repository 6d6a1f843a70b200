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


# -- Thresholds as code: warning and critical levels (docs/OPERATIONS.md) ------
#
# Every metric type below is a built-in one Google documents on
# https://cloud.google.com/monitoring/api/metrics_gcp (Cloud Run: "run";
# Memorystore for Redis: "redis"; Pub/Sub: "pubsub"), or a log-based metric
# defined in this configuration (logging.googleapis.com/user/...).
# tests/unit/deploy/test_terraform_wiring.py checks each against that list.
#
# Two policies per signal and target, one per severity: the policy's own
# `severity` field (WARNING or CRITICAL) and its own notification channels
# (var.notification_channels_warning / _critical).
locals {
  severities = {
    warning  = { severity = "WARNING", channels = var.notification_channels_warning }
    critical = { severity = "CRITICAL", channels = var.notification_channels_critical }
  }
  # The gen2 functions run as Cloud Run services of their own name, so the
  # functions and the bridge share Cloud Run's container metrics.
  cloud_run_targets = {
    functions = { filter = local.functions_filter, label = "functions" }
    bridge    = { filter = local.bridge_filter, label = "ws_bridge" }
  }
  cloud_run_policies = {
    for pair in setproduct(keys(local.cloud_run_targets), keys(local.severities)) :
    "${pair[0]}-${pair[1]}" => { target = pair[0], level = pair[1] }
  }
  redis_filter = "resource.type = \"redis_instance\" AND resource.labels.instance_id = \"${google_redis_instance.state.id}\""
}

# CPU: run.googleapis.com/container/cpu/utilizations (a distribution of
# instance CPU utilisation, 0..1): p99 over each service's instances.
resource "google_monitoring_alert_policy" "cloud_run_cpu" {
  for_each = local.cloud_run_policies

  display_name          = "${var.name_prefix}: ${local.cloud_run_targets[each.value.target].label} CPU (${each.value.level})"
  combiner              = "OR"
  severity              = local.severities[each.value.level].severity
  notification_channels = local.severities[each.value.level].channels

  conditions {
    display_name = "CPU utilisation p99 above ${var.alert_levels.cpu_utilization[each.value.level] * 100} %"
    condition_threshold {
      filter          = "${local.cloud_run_targets[each.value.target].filter} AND metric.type = \"run.googleapis.com/container/cpu/utilizations\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_levels.cpu_utilization[each.value.level]
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "CPU of ${local.cloud_run_targets[each.value.target].label} above the ${each.value.level} level. See docs/OPERATIONS.md, cloud_run_cpu."
  }

  depends_on = [google_project_service.enabled]
}

# Memory: run.googleapis.com/container/memory/utilizations (0..1 of the limit).
resource "google_monitoring_alert_policy" "cloud_run_memory" {
  for_each = local.cloud_run_policies

  display_name          = "${var.name_prefix}: ${local.cloud_run_targets[each.value.target].label} memory (${each.value.level})"
  combiner              = "OR"
  severity              = local.severities[each.value.level].severity
  notification_channels = local.severities[each.value.level].channels

  conditions {
    display_name = "Memory utilisation p99 above ${var.alert_levels.memory_utilization[each.value.level] * 100} %"
    condition_threshold {
      filter          = "${local.cloud_run_targets[each.value.target].filter} AND metric.type = \"run.googleapis.com/container/memory/utilizations\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_levels.memory_utilization[each.value.level]
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Memory of ${local.cloud_run_targets[each.value.target].label} near its limit (an instance that exceeds it is killed). See docs/OPERATIONS.md, cloud_run_memory."
  }

  depends_on = [google_project_service.enabled]
}

# Request latency: run.googleapis.com/request_latencies (ms), p99 per service.
# The bridge's WebSockets are requests that last the whole session (up to the
# 3600 s timeout) and are answered 101 Switching Protocols, so its latency
# condition leaves the 1xx class out and measures its plain HTTP requests
# (/health, /stats, /readyz); what clients wait for end to end is e2e_latency.
resource "google_monitoring_alert_policy" "cloud_run_latency" {
  for_each = local.cloud_run_policies

  display_name          = "${var.name_prefix}: ${local.cloud_run_targets[each.value.target].label} request latency p99 (${each.value.level})"
  combiner              = "OR"
  severity              = local.severities[each.value.level].severity
  notification_channels = local.severities[each.value.level].channels

  conditions {
    display_name = "Request latency p99 above ${var.alert_levels.request_latency_p99_ms[each.value.level]} ms"
    condition_threshold {
      filter          = "${local.cloud_run_targets[each.value.target].filter} AND metric.type = \"run.googleapis.com/request_latencies\"${each.value.target == "bridge" ? " AND metric.labels.response_code_class != \"1xx\"" : ""}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_levels.request_latency_p99_ms[each.value.level]
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Requests to ${local.cloud_run_targets[each.value.target].label} take long (p99). See docs/OPERATIONS.md, cloud_run_latency."
  }

  depends_on = [google_project_service.enabled]
}

# Error rate: 5xx responses / all responses (run.googleapis.com/request_count).
resource "google_monitoring_alert_policy" "cloud_run_error_ratio" {
  for_each = local.cloud_run_policies

  display_name          = "${var.name_prefix}: ${local.cloud_run_targets[each.value.target].label} 5xx ratio (${each.value.level})"
  combiner              = "OR"
  severity              = local.severities[each.value.level].severity
  notification_channels = local.severities[each.value.level].channels

  conditions {
    display_name = "5xx ratio above ${var.alert_levels.error_ratio[each.value.level] * 100} %"
    condition_threshold {
      filter             = "${local.cloud_run_targets[each.value.target].filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "${local.cloud_run_targets[each.value.target].filter} AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_levels.error_ratio[each.value.level]
      duration           = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A share of ${local.cloud_run_targets[each.value.target].label}'s requests end in 5xx. See docs/OPERATIONS.md, cloud_run_error_ratio."
  }

  depends_on = [google_project_service.enabled]
}

# Redis memory: redis.googleapis.com/stats/memory/usage_ratio (0..1 of maxmemory).
resource "google_monitoring_alert_policy" "redis_memory" {
  for_each = local.severities

  display_name          = "${var.name_prefix}: Redis memory (${each.key})"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = each.value.channels

  conditions {
    display_name = "Memory usage ratio above ${var.alert_levels.redis_memory_ratio[each.key]}"
    condition_threshold {
      filter          = "${local.redis_filter} AND metric.type = \"redis.googleapis.com/stats/memory/usage_ratio\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_levels.redis_memory_ratio[each.key]
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

  depends_on = [google_project_service.enabled]
}

# The single Redis memory policy (0.8) became the warning one: keep it, do not recreate.
moved {
  from = google_monitoring_alert_policy.redis_memory
  to   = google_monitoring_alert_policy.redis_memory["warning"]
}

# Redis CPU: redis.googleapis.com/stats/cpu_utilization counts CPU-seconds;
# its rate is the cores busy. Redis executes commands on one thread, so a rate
# near 1 is a saturated server whatever the tier's core count.
resource "google_monitoring_alert_policy" "redis_cpu" {
  for_each = local.severities

  display_name          = "${var.name_prefix}: Redis CPU (${each.key})"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = each.value.channels

  conditions {
    display_name = "CPU-seconds per second above ${var.alert_levels.redis_cpu[each.key]}"
    condition_threshold {
      filter          = "${local.redis_filter} AND metric.type = \"redis.googleapis.com/stats/cpu_utilization\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_levels.redis_cpu[each.key]
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.instance_id"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Redis is busy: dedupe claims and feature state per tick. See docs/OPERATIONS.md, redis_cpu."
  }

  depends_on = [google_project_service.enabled]
}

# -- Budget: the project's monthly cost ---------------------------------------
#
# Amount: var.monthly_budget.amount_usd, set per environment in envs/*.tfvars
# to what `tickcast cost --env ENV` prints for the workload written next to it,
# times var.monthly_budget.headroom (test_terraform_wiring.py recomputes it).
# Needs billingbudgets.googleapis.com (apis.tf) and a billing account; without
# one (var.billing_account empty) no budget is created.
resource "google_billing_budget" "monthly" {
  count = var.billing_account == "" ? 0 : 1

  billing_account = var.billing_account
  display_name    = "${var.name_prefix}-${var.environment} monthly"

  budget_filter {
    projects        = ["projects/${data.google_project.this.number}"]
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      currency_code = "USD"
      units         = tostring(var.monthly_budget.amount_usd)
    }
  }

  threshold_rules {
    threshold_percent = 0.5
  }
  threshold_rules {
    threshold_percent = 0.9
  }
  threshold_rules {
    threshold_percent = 1.0
  }

  all_updates_rule {
    monitoring_notification_channels = var.notification_channels_critical
  }

  depends_on = [google_project_service.enabled]
}
