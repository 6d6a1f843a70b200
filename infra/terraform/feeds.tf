# Feed connectors: one Cloud Run service per entry of var.feeds, each running
# `tickcast feed VENDOR` (docs/FEEDS.md) and publishing the vendor's frames to
# tickcast-raw. Nothing is deployed while var.feeds is empty (the default).
#
# Why a service: the connector serves /healthz, /readyz and /metrics on $PORT,
# which Cloud Run probes, and a service with min = max = 1 instance and CPU
# always allocated keeps exactly one vendor connection open without requests.
# It runs the bridge's image (the same staged tickcast package and pinned
# requirements) with another command, so there is no second image to build.
#
# One instance is the vendors' rule as much as ours: Alpaca and Polygon allow
# one connection per endpoint on most plans. During a rollout the old and the
# new revision overlap for a moment; the newcomer then gets "connection limit
# exceeded" (Alpaca 406, Polygon max_connections) and retries after
# TICKCAST_FEED_LIMIT_BACKOFF_S until the old instance has stopped.

variable "feeds" {
  type = map(object({
    vendor   = string
    symbols  = list(string)
    channels = optional(list(string), [])
    stream   = optional(string, "")
    shards   = optional(number, 16)
    stale_s  = optional(number, 120)
    session  = optional(string, "")
    # Version of each vendor-key secret the connector reads (a number, or latest).
    secret_version = optional(string, "latest")
    cpu            = optional(string, "1")
    memory         = optional(string, "512Mi")
    extra_env      = optional(map(string), {})
  }))
  description = "Feed connectors by name (the key names the service, its account and its secrets): vendor (alpaca, polygon, yahoo), symbols, and optionally channels, stream (Alpaca feed or Polygon cluster), shards, stale_s, session, secret_version, cpu, memory, extra TICKCAST_FEED_* env. Empty: no connector."
  default     = {}

  validation {
    # "<name_prefix>-feed-<key>" must stay a valid service account id (at most 30 characters).
    condition     = alltrue([for k in keys(var.feeds) : can(regex("^[a-z][a-z0-9-]{0,10}[a-z0-9]$", k))])
    error_message = "Feed names are 2-12 lowercase letters, digits or hyphens, starting with a letter."
  }

  validation {
    condition     = alltrue([for f in values(var.feeds) : contains(["alpaca", "polygon", "yahoo"], f.vendor)])
    error_message = "A feed's vendor is alpaca, polygon or yahoo."
  }

  validation {
    condition     = alltrue([for f in values(var.feeds) : length(f.symbols) > 0 && f.shards >= 1 && f.shards <= 1024 && f.stale_s > 0])
    error_message = "Each feed needs at least one symbol, 1 <= shards <= 1024 and stale_s > 0."
  }

  validation {
    condition     = alltrue([for f in values(var.feeds) : can(regex("^([0-9]+|latest)$", f.secret_version))])
    error_message = "secret_version is a version number or latest."
  }
}

variable "feed_alert_thresholds" {
  type = object({
    reconnects_per_10m = optional(number, 6)
  })
  description = "Feed alerts: reconnects per feed in 10 minutes above which a reconnect storm is reported."
  default     = {}

  validation {
    condition     = var.feed_alert_thresholds.reconnects_per_10m >= 1
    error_message = "reconnects_per_10m must be at least 1."
  }
}

locals {
  # The environment variables each vendor's keys are read from (the vendors' own names).
  feed_secret_env = {
    alpaca  = ["APCA_API_KEY_ID", "APCA_API_SECRET_KEY"]
    polygon = ["POLYGON_API_KEY"]
    yahoo   = []
  }

  # "<feed>/<ENV>" -> the secret that holds that key for that feed.
  feed_secrets = merge({}, [
    for name, f in var.feeds : {
      for env in local.feed_secret_env[f.vendor] : "${name}/${env}" => {
        feed      = name
        env       = env
        secret_id = "${var.name_prefix}-feed-${name}-${lower(replace(env, "_", "-"))}"
        version   = f.secret_version
      }
    }
  ]...)

  # Names are tickcast.config.Settings aliases and tickcast.feeds.settings.FeedSettings aliases.
  feed_env = {
    for name, f in var.feeds : name => merge(
      {
        GOOGLE_CLOUD_PROJECT  = var.project_id
        TICKCAST_TOPIC_PREFIX = var.topic_prefix
        TICKCAST_LOG_LEVEL    = var.log_level
        TICKCAST_FEED_NAME    = name
        TICKCAST_FEED_SYMBOLS = join(",", f.symbols)
        TICKCAST_FEED_SHARDS  = tostring(f.shards)
        TICKCAST_FEED_STALE_S = tostring(f.stale_s)
        # Cloud Run sends SIGTERM and allows 10 s before SIGKILL.
        TICKCAST_FEED_DRAIN_S = "8"
        # A refused key exits non-zero; Cloud Run restarts the container. Waiting
        # first keeps that loop to one login attempt per 5 minutes.
        TICKCAST_FEED_FATAL_HOLD_S = "300"
      },
      length(f.channels) > 0 ? { TICKCAST_FEED_CHANNELS = join(",", f.channels) } : {},
      f.stream != "" ? { TICKCAST_FEED_STREAM = f.stream } : {},
      f.session != "" ? { TICKCAST_FEED_SESSION = f.session } : {},
      f.extra_env,
    )
  }

  # A Logging query (not a Monitoring filter): every feed service by its name prefix.
  feeds_filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name =~ \"^${var.name_prefix}-feed-\""
}

# -- identity: publish to tickcast-raw, read its own keys, nothing else ----------------

resource "google_service_account" "feed" {
  for_each = var.feeds

  account_id   = "${var.name_prefix}-feed-${each.key}"
  display_name = "tickcast feed ${each.key} (${each.value.vendor})"
  description  = "Runtime identity of the ${each.value.vendor} feed connector: publishes to the raw topic and reads its vendor keys."

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "feed_publisher" {
  for_each = var.feeds

  topic  = module.topics.ids["raw"]
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.feed[each.key].email}"
}

# Terraform creates only the containers: the keys are added (and rotated) with
# `gcloud secrets versions add`, so they never enter the state (docs/FEEDS.md).
resource "google_secret_manager_secret" "feed" {
  for_each = local.feed_secrets

  secret_id = each.value.secret_id

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "feed" {
  for_each = local.feed_secrets

  secret_id = google_secret_manager_secret.feed[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.feed[each.value.feed].email}"
}

# -- the connectors -----------------------------------------------------------------

resource "google_cloud_run_v2_service" "feed" {
  for_each = var.feeds

  name                = "${var.name_prefix}-feed-${each.key}"
  location            = var.region
  description         = "tickcast ${each.value.vendor} feed connector: vendor WebSocket -> ${var.topic_prefix}raw."
  deletion_protection = var.deletion_protection
  # Only the probes call it; no invoker binding exists, so nobody outside may.
  ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  template {
    service_account       = google_service_account.feed[each.key].email
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
    # Requests are only probes and scrapes.
    max_instance_request_concurrency = 4

    scaling {
      # Exactly one connection to the vendor.
      min_instance_count = 1
      max_instance_count = 1
    }

    containers {
      image   = local.bridge_image
      command = ["python", "-m", "tickcast.cli"]
      args    = ["feed", each.value.vendor]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = each.value.cpu
          memory = each.value.memory
        }
        # The connector reads the vendor socket between requests: CPU always allocated.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.feed_env[each.key]
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = { for k, s in local.feed_secrets : s.env => s if s.feed == each.key }
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.feed["${each.key}/${env.key}"].secret_id
              version = env.value.version
            }
          }
        }
      }

      # /healthz, not /readyz: a vendor outage must not get the container killed
      # and restarted; the connector reconnects by itself and /readyz, the
      # tickcast_feed_* metrics and the alerts below report it.
      startup_probe {
        period_seconds    = 2
        timeout_seconds   = 1
        failure_threshold = 30
        http_get {
          path = "/healthz"
          port = 8080
        }
      }

      liveness_probe {
        period_seconds    = 10
        timeout_seconds   = 2
        failure_threshold = 3
        http_get {
          path = "/healthz"
          port = 8080
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [
    google_secret_manager_secret_iam_member.feed,
    google_pubsub_topic_iam_member.feed_publisher,
  ]
}

# -- alerts: from the connector's structured log lines --------------------------------
#
# Log-based, so no Prometheus scraping has to be set up in the project; each
# line carries `feed`, extracted as a label so the alerts are per feed.

resource "google_logging_metric" "feed_reconnects" {
  count = length(var.feeds) > 0 ? 1 : 0

  name        = "${var.name_prefix}_feed_reconnects"
  description = "Feed connector reconnects (its `reconnecting` log line), by feed."
  filter      = "${local.feeds_filter} AND jsonPayload.message = \"reconnecting\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tickcast feed reconnects"
    labels {
      key         = "feed"
      value_type  = "STRING"
      description = "TICKCAST_FEED_NAME"
    }
  }

  label_extractors = {
    feed = "EXTRACT(jsonPayload.feed)"
  }

  # Its filter names only variables: without this it races logging's enablement.
  depends_on = [google_project_service.enabled]
}

# Logged when a feed turns stale and again every stale_s while it stays stale,
# so the condition holds as long as the feed is stale.
resource "google_logging_metric" "feed_stale" {
  count = length(var.feeds) > 0 ? 1 : 0

  name        = "${var.name_prefix}_feed_stale"
  description = "Feed connector `stale feed` log lines: no frame for stale_s during the session, by feed."
  filter      = "${local.feeds_filter} AND jsonPayload.message = \"stale feed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tickcast feed stale"
    labels {
      key         = "feed"
      value_type  = "STRING"
      description = "TICKCAST_FEED_NAME"
    }
  }

  label_extractors = {
    feed = "EXTRACT(jsonPayload.feed)"
  }

  # Its filter names only variables: without this it races logging's enablement.
  depends_on = [google_project_service.enabled]
}

# ERROR and CRITICAL lines: the vendor refused (bad keys, no entitlement), or the
# connector stopped with frames unpublished.
resource "google_logging_metric" "feed_errors" {
  count = length(var.feeds) > 0 ? 1 : 0

  name        = "${var.name_prefix}_feed_errors"
  description = "Feed connector log lines at ERROR or above (vendor refusal, frames left unpublished), by feed."
  filter      = "${local.feeds_filter} AND severity >= ERROR AND jsonPayload.feed:*"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tickcast feed errors"
    labels {
      key         = "feed"
      value_type  = "STRING"
      description = "TICKCAST_FEED_NAME"
    }
  }

  label_extractors = {
    feed = "EXTRACT(jsonPayload.feed)"
  }

  # Its filter names only variables: without this it races logging's enablement.
  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "feed_reconnect_storm" {
  count = length(var.feeds) > 0 ? 1 : 0

  display_name          = "${var.name_prefix}: feed reconnect storm"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than ${var.feed_alert_thresholds.reconnects_per_10m} reconnects in 10 minutes, by feed"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.feed_reconnects[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.feed_alert_thresholds.reconnects_per_10m
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.feed"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A feed connector keeps losing its vendor connection. The `reconnecting` log lines name the reason (closed_1011, alpaca_406 / polygon_max_connections: another connection holds the vendor's limit, alpaca_407: too slow, handshake_timeout, ...). See docs/FEEDS.md, Operations."
  }
}

resource "google_monitoring_alert_policy" "feed_stale" {
  count = length(var.feeds) > 0 ? 1 : 0

  display_name          = "${var.name_prefix}: stale feed"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "A feed received no frame for stale_s during its session"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.feed_stale[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.feed"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A feed connector is connected (or reconnecting) but no market data arrives during the session: the vendor stopped sending, the subscription was lost, or the session setting is wrong. Check the connector's /readyz and its `stale feed` / `reconnecting` log lines. See docs/FEEDS.md, Operations."
  }
}

resource "google_monitoring_alert_policy" "feed_errors" {
  count = length(var.feeds) > 0 ? 1 : 0

  display_name          = "${var.name_prefix}: feed stopped or lost frames"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Feed connector log lines at ERROR or above"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.feed_errors[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.feed"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "`feed stopped: the vendor refused` (CRITICAL): the vendor rejected the keys or the plan (reason alpaca_402, alpaca_409, polygon_auth_failed, ...); fix the secret with `gcloud secrets versions add` and the connector logs in again within TICKCAST_FEED_FATAL_HOLD_S. `stopped with frames unpublished` (ERROR): Pub/Sub was unreachable during shutdown; the line counts the frames lost. See docs/FEEDS.md."
  }
}

output "feed_services" {
  description = "Feed name to its Cloud Run service (internal only, one instance)."
  value       = { for k, s in google_cloud_run_v2_service.feed : k => s.name }
}

output "feed_secrets" {
  description = "Feed name to the Secret Manager secrets its vendor keys go in (env var name to secret id); add versions with gcloud."
  value = {
    for name in keys(var.feeds) : name => {
      for k, s in local.feed_secrets : s.env => s.secret_id if s.feed == name
    }
  }
}
