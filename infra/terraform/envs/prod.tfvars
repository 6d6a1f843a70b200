# Production. Size Redis with `tickcast cost` (dedupe keys dominate memory).
project_id  = "tickcast-prod"
environment = "prod"
region      = "us-central1"

function_scaling = {
  ingest   = { max_instances = 50, min_instances = 1, concurrency = 32 }
  features = { max_instances = 50, min_instances = 2, concurrency = 32 }
  predict  = { max_instances = 20, min_instances = 4, concurrency = 32, memory = "1Gi" }
}

bridge_scaling = {
  min_instances = 2
  max_instances = 20
  concurrency   = 500
  memory        = "1Gi"
}

redis_memory_size_gb = 2
topic_retention      = "604800s"
deadletter_retention = "604800s"
firestore_pitr       = true
deletion_protection  = true
log_level            = "INFO"

# Scheduled Firestore backups, beside PITR (docs/OPERATIONS.md: restore).
firestore_backups = {
  daily_retention_days   = 7
  weekly_retention_weeks = 8
}

connector_instances = {
  min = 2
  max = 5
}

# Monitoring notification channel ids (projects/P/notificationChannels/N).
notification_channels = []

# Warning and critical alert policies notify these (monitoring.tf).
notification_channels_warning  = []
notification_channels_critical = []

# Monthly budget alert (created when billing_account is set): the total of
# `tickcast cost --env prod --symbols 20 --ticks-per-second 100` times headroom, rounded up.
monthly_budget = {
  amount_usd       = 828
  symbols          = 20
  ticks_per_second = 100
  headroom         = 1.25
}
