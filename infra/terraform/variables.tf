variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into (one project per environment)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "A project id is 6-30 lowercase letters, digits or hyphens and starts with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Environment name, used in labels (dev or prod)."

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "The environment must be dev or prod."
  }
}

variable "region" {
  type        = string
  description = "Region of every regional resource (functions, Cloud Run, Redis, Scheduler, bucket, registry)."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "The region must look like us-central1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of resource names other than topics (functions, service accounts, Redis, ...)."
  default     = "tickcast"

  validation {
    # Keeps "<prefix>-features"-style service account ids (6-30 chars) and the 25-char connector name valid.
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.name_prefix))
    error_message = "The name prefix must be 2-12 lowercase letters, digits or hyphens and start with a letter."
  }
}

variable "topic_prefix" {
  type        = string
  description = "Prefix of every topic name; passed to the code as TICKCAST_TOPIC_PREFIX, so both always agree."
  default     = "tickcast-"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._-]*$", var.topic_prefix))
    error_message = "The topic prefix must start with a letter and contain only letters, digits, '-', '_' or '.'."
  }
}

variable "build_dir" {
  type        = string
  description = "Directory that `tickcast stage` filled (build/<function>/); null means <repo>/build."
  default     = null
}

variable "topic_retention" {
  type        = string
  description = "Message retention on the pipeline topics and their push subscriptions (seek/replay window)."
  default     = "86400s"

  validation {
    # Also a subscription's retention, which Pub/Sub caps at 7 days.
    condition     = can(regex("^[0-9]+s$", var.topic_retention)) && try(tonumber(trimsuffix(var.topic_retention, "s")) >= 600 && tonumber(trimsuffix(var.topic_retention, "s")) <= 604800, false)
    error_message = "Write the retention in seconds between \"600s\" and \"604800s\" (7 days)."
  }
}

variable "deadletter_retention" {
  type        = string
  description = "Retention of the dead-letter topic and its inspection subscription (at most 7 days)."
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.deadletter_retention)) && try(tonumber(trimsuffix(var.deadletter_retention, "s")) >= 600 && tonumber(trimsuffix(var.deadletter_retention, "s")) <= 604800, false)
    error_message = "Write the retention in seconds between \"600s\" and \"604800s\" (a subscription keeps at most 7 days)."
  }
}

# Push delivery (ack deadline, retry backoff, dead-letter attempts) is not a
# variable: it is src/tickcast/deploy/topology.json, shared with the local stack.

variable "function_scaling" {
  type = map(object({
    max_instances = number
    min_instances = optional(number, 0)
    concurrency   = number
    cpu           = optional(string, "1")
    memory        = optional(string, "512Mi")
  }))
  description = "Per-function scaling (ingest, features, predict): max instances, min instances, request concurrency, CPU, memory. The timeout is the push ack deadline (topology.json)."
  default = {
    ingest   = { max_instances = 20, concurrency = 16 }
    features = { max_instances = 20, concurrency = 16 }
    predict  = { max_instances = 10, concurrency = 8 }
  }

  validation {
    condition     = alltrue([for k, v in var.function_scaling : contains(["ingest", "features", "predict"], k)])
    error_message = "Keys of function_scaling must be ingest, features or predict."
  }

  validation {
    condition = alltrue([
      for v in values(var.function_scaling) :
      v.max_instances >= 1 && v.min_instances >= 0 && v.min_instances <= v.max_instances && v.concurrency >= 1 && v.concurrency <= 1000
    ])
    error_message = "Need 1 <= max_instances, 0 <= min_instances <= max_instances and 1 <= concurrency <= 1000."
  }

  validation {
    # Cloud Run rejects concurrency > 1 on fractional CPU.
    condition     = alltrue([for v in values(var.function_scaling) : v.concurrency == 1 || tonumber(v.cpu) >= 1])
    error_message = "A function with concurrency above 1 needs cpu >= 1."
  }
}

variable "bar_seconds" {
  type        = number
  description = "TICKCAST_BAR_SECONDS: length of a time bar."
  default     = 60

  validation {
    condition     = var.bar_seconds > 0 && var.bar_seconds <= 86400 && floor(var.bar_seconds) == var.bar_seconds
    error_message = "bar_seconds must be a whole number of seconds between 1 and 86400."
  }
}

variable "log_level" {
  type        = string
  description = "TICKCAST_LOG_LEVEL of every stage."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "The log level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "model_uri" {
  type        = string
  description = "TICKCAST_MODEL_URI of the predict stage: builtin:logreg-daily, builtin:baseline, ensemble, or gs://<artifacts bucket>/models/... ."
  default     = "builtin:logreg-daily"
}

variable "function_extra_env" {
  type        = map(map(string))
  description = "Further tickcast settings per function (ingest, features, predict), e.g. { ingest = { TICKCAST_SESSION = \"09:30-16:00 America/New_York mon-fri\" } }. See the README's settings table."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.function_extra_env) : contains(["ingest", "features", "predict"], k)])
    error_message = "function_extra_env keys must be ingest, features or predict."
  }
}

variable "horizon_bars" {
  type        = number
  description = "TICKCAST_HORIZON_BARS: how many bars ahead a prediction looks."
  default     = 1

  validation {
    condition     = var.horizon_bars >= 1
    error_message = "horizon_bars must be at least 1."
  }
}

variable "redis_memory_size_gb" {
  type        = number
  description = "Memorystore capacity; dedupe keys dominate it (see `tickcast cost`)."
  default     = 1

  validation {
    condition     = var.redis_memory_size_gb >= 1 && var.redis_memory_size_gb <= 300
    error_message = "Memorystore for Redis sizes are 1-300 GB."
  }
}

variable "redis_version" {
  type        = string
  description = "Memorystore Redis version."
  default     = "REDIS_7_2"

  validation {
    condition     = can(regex("^REDIS_[0-9]+_[0-9X]+$", var.redis_version))
    error_message = "Use a Memorystore version id such as REDIS_7_2."
  }
}

variable "connector_cidr" {
  type        = string
  description = "Unused /28 range for the Serverless VPC Access connector's subnet."
  default     = "10.8.0.0/28"

  validation {
    condition     = can(cidrhost(var.connector_cidr, 0)) && endswith(var.connector_cidr, "/28")
    error_message = "The connector subnet must be a /28 CIDR block."
  }
}

variable "connector_instances" {
  type = object({
    min = number
    max = number
  })
  description = "Serverless VPC Access connector instance bounds (e2-micro)."
  default = {
    min = 2
    max = 3
  }

  validation {
    condition     = var.connector_instances.min >= 2 && var.connector_instances.max > var.connector_instances.min && var.connector_instances.max <= 10
    error_message = "Connectors need 2 <= min < max <= 10 instances."
  }
}

variable "firestore_location" {
  type        = string
  description = "Firestore location (multi-region nam5/eur3 or a region); cannot change after creation."
  default     = "nam5"
}

variable "firestore_pitr" {
  type        = bool
  description = "Enable Firestore point-in-time recovery (7 days of versions, billed as storage)."
  default     = true
}

variable "firestore_backups" {
  type = object({
    daily_retention_days   = optional(number, 7)
    weekly_retention_weeks = optional(number, 0)
  })
  description = "Firestore scheduled backups: days a daily backup is kept (0-7, 0 = no daily schedule) and weeks a weekly (Sunday) backup is kept (0-14, 0 = none)."
  default     = {}

  validation {
    condition = (
      var.firestore_backups.daily_retention_days >= 0 && var.firestore_backups.daily_retention_days <= 7 &&
      var.firestore_backups.weekly_retention_weeks >= 0 && var.firestore_backups.weekly_retention_weeks <= 14
    )
    error_message = "Firestore keeps daily backups at most 7 days and weekly ones at most 14 weeks."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the Firestore database and the bridge service from `terraform destroy`."
  default     = true
}

variable "bridge_image_tag" {
  type        = string
  description = "Tag of the ws_bridge image in Artifact Registry (scripts/deploy.sh uses the git commit)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.bridge_image_tag))
    error_message = "Not a valid Docker tag."
  }
}

variable "bridge_scaling" {
  type = object({
    min_instances = number
    max_instances = number
    concurrency   = number
    cpu           = optional(string, "1")
    memory        = optional(string, "512Mi")
  })
  description = "ws_bridge scaling: min instances (warm listeners), max instances, and concurrent WebSockets per instance."
  default = {
    min_instances = 1
    max_instances = 10
    concurrency   = 250
  }

  validation {
    condition = (
      var.bridge_scaling.min_instances >= 0 &&
      var.bridge_scaling.max_instances >= max(1, var.bridge_scaling.min_instances) &&
      var.bridge_scaling.concurrency >= 1 && var.bridge_scaling.concurrency <= 1000
    )
    error_message = "Need 0 <= min_instances <= max_instances (>= 1) and 1 <= concurrency <= 1000."
  }
}

variable "ws_jwt_secret_version" {
  type        = string
  description = "Version of the JWT signing secret the bridge reads (a number, or latest)."
  default     = "latest"

  validation {
    condition     = can(regex("^([0-9]+|latest)$", var.ws_jwt_secret_version))
    error_message = "Use a version number or latest."
  }
}

variable "notification_channels" {
  type        = list(string)
  description = "Monitoring notification channel ids that the alert policies notify."
  default     = []
}

variable "alert_thresholds" {
  type = object({
    deadletter_backlog = optional(number, 0)
    function_5xx_per_s = optional(number, 0.5)
    e2e_latency_p99_ms = optional(number, 5000)
    # Unused since alert_levels.redis_memory_ratio (warning and critical); kept so tfvars that set it still apply.
    redis_memory_ratio = optional(number, 0.8)
    # Routine moves of the alerts listener's range are not counted.
    listener_restarts_per_10m = optional(number, 5)
  })
  description = "Alert thresholds: dead-letter backlog (messages), function 5xx rate, end-to-end p99 latency (ms), Redis memory usage ratio, bridge listener restarts per 10 minutes (all instances)."
  default     = {}

  validation {
    condition     = var.alert_thresholds.redis_memory_ratio > 0 && var.alert_thresholds.redis_memory_ratio < 1
    error_message = "redis_memory_ratio is a fraction between 0 and 1."
  }
}

variable "bridge_connect_log_filter" {
  type        = string
  description = "Logging filter clause that matches the bridge's one log line per accepted WebSocket (counted by a log-based metric)."
  default     = "jsonPayload.message=\"client connected\""
}

variable "labels" {
  type        = map(string)
  description = "Extra labels on every resource that takes labels."
  default     = {}
}

# -- Thresholds as code (monitoring.tf), the budget -----------------------------

variable "notification_channels_warning" {
  type        = list(string)
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) that WARNING alert policies notify."
  default     = []
}

variable "notification_channels_critical" {
  type        = list(string)
  description = "Monitoring notification channel ids that CRITICAL alert policies and the budget notify (a budget takes at most 5)."
  default     = []

  validation {
    condition     = length(var.notification_channels_critical) <= 5
    error_message = "A billing budget notifies at most 5 monitoring channels."
  }
}

variable "alert_levels" {
  type = object({
    cpu_utilization        = optional(object({ warning = number, critical = number }), { warning = 0.70, critical = 0.85 })
    memory_utilization     = optional(object({ warning = number, critical = number }), { warning = 0.80, critical = 0.90 })
    request_latency_p99_ms = optional(object({ warning = number, critical = number }), { warning = 2000, critical = 10000 })
    error_ratio            = optional(object({ warning = number, critical = number }), { warning = 0.01, critical = 0.05 })
    redis_memory_ratio     = optional(object({ warning = number, critical = number }), { warning = 0.80, critical = 0.90 })
    redis_cpu              = optional(object({ warning = number, critical = number }), { warning = 0.70, critical = 0.85 })
  })
  description = "Warning and critical levels of the functions', the bridge's and Redis's alert policies: CPU and memory utilisation (0..1), request latency p99 (ms), 5xx ratio (0..1), Redis memory usage ratio and CPU-seconds per second. Supersedes alert_thresholds.redis_memory_ratio."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.alert_levels : v.warning < v.critical && v.warning > 0
    ])
    error_message = "Each level needs 0 < warning < critical."
  }
}

variable "billing_account" {
  type        = string
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) for the monthly budget alert; empty: no budget."
  default     = ""

  validation {
    condition     = var.billing_account == "" || can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account))
    error_message = "Use the billing account id, like 012345-6789AB-CDEF01, or leave it empty."
  }
}

variable "monthly_budget" {
  type = object({
    amount_usd = number
    # The workload `tickcast cost --env ENV` was run with, and the factor over its total.
    symbols          = number
    ticks_per_second = number
    headroom         = number
  })
  description = "Monthly budget (whole USD): `tickcast cost --env ENV --symbols S --ticks-per-second T` total times headroom, rounded up. tests/unit/deploy recomputes it."
  default = {
    amount_usd       = 659
    symbols          = 20
    ticks_per_second = 100
    headroom         = 1.25
  }

  validation {
    condition     = var.monthly_budget.amount_usd > 0 && floor(var.monthly_budget.amount_usd) == var.monthly_budget.amount_usd && var.monthly_budget.headroom >= 1
    error_message = "amount_usd is a whole number of dollars above 0 and headroom is at least 1."
  }
}
