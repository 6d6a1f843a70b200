# Development: small, cheap, easy to tear down.
project_id  = "tickcast-dev"
environment = "dev"
region      = "us-central1"

function_scaling = {
  ingest   = { max_instances = 3, concurrency = 16 }
  features = { max_instances = 3, concurrency = 16 }
  predict  = { max_instances = 2, concurrency = 8 }
}

bridge_scaling = {
  min_instances = 0
  max_instances = 2
  concurrency   = 100
}

redis_memory_size_gb = 1
topic_retention      = "86400s"
firestore_pitr       = false
deletion_protection  = false
log_level            = "DEBUG"

# Scheduled Firestore backups, beside PITR (docs/OPERATIONS.md: restore).
firestore_backups = {
  daily_retention_days   = 2
  weekly_retention_weeks = 0
}

alert_thresholds = {
  function_5xx_per_s = 1
  e2e_latency_p99_ms = 10000
}

# Monthly budget alert (created when billing_account is set): the total of
# `tickcast cost --env dev --symbols 5 --ticks-per-second 10` times headroom, rounded up.
monthly_budget = {
  amount_usd       = 220
  symbols          = 5
  ticks_per_second = 10
  headroom         = 1.25
}
