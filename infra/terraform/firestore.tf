resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_pitr ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Destroying the stack must never drop market history with it.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Scheduled backups beside point-in-time recovery: PITR (var.firestore_pitr)
# reads any minute of the last 7 days; a backup is a restorable copy of the
# whole database kept for its retention, which outlives PITR and a deleted
# database. Firestore allows one daily and one weekly schedule per database;
# daily backups are kept at most 7 days, weekly ones at most 14 weeks. Restore
# with `gcloud firestore databases restore` (docs/OPERATIONS.md).
resource "google_firestore_backup_schedule" "daily" {
  count = var.firestore_backups.daily_retention_days > 0 ? 1 : 0

  database  = google_firestore_database.main.name
  retention = "${var.firestore_backups.daily_retention_days * 86400}s"

  daily_recurrence {}
}

resource "google_firestore_backup_schedule" "weekly" {
  count = var.firestore_backups.weekly_retention_weeks > 0 ? 1 : 0

  database  = google_firestore_database.main.name
  retention = "${var.firestore_backups.weekly_retention_weeks * 7 * 86400}s"

  weekly_recurrence {
    day = "SUNDAY"
  }
}

# alerts/{SYMBOL}-{seq}-{kind}: a symbol's alerts in seq order, oldest-first
# (replay "since") and newest-first (latest N). Equality + order needs a
# composite index per direction.
resource "google_firestore_index" "alerts_by_symbol_seq" {
  for_each = toset(["ASCENDING", "DESCENDING"])

  database    = google_firestore_database.main.name
  collection  = "alerts"
  query_scope = "COLLECTION"

  fields {
    field_path = "symbol"
    order      = "ASCENDING"
  }

  fields {
    field_path = "seq"
    order      = each.value
  }
}

# symbols/{SYM}/predictions/{seq}: history ordered by seq. Within one symbol
# the automatic single-field index serves it; the collection-group scope
# (both directions) serves reads across symbols, which is not automatic: among
# them each bridge instance's live listener on recent history (seq >= now - 60 s,
# src/tickcast/bridge/history_stream.py).
resource "google_firestore_field" "prediction_seq" {
  database   = google_firestore_database.main.name
  collection = "predictions"
  field      = "seq"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "DESCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order       = "DESCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# TTL on prediction history: the predict stage writes `expire_at` (a
# timestamp, now + retention) on every symbols/{SYM}/predictions/{seq}
# document and Firestore deletes it after that time (within ~24 h). The empty
# index_config drops the field's indexes: a monotonically increasing
# timestamp index is a write hotspot and nothing queries it.
resource "google_firestore_field" "prediction_expire_at" {
  database   = google_firestore_database.main.name
  collection = "predictions"
  field      = "expire_at"

  ttl_config {}

  index_config {}

  # Field-override operations on one database contend when run in parallel.
  depends_on = [google_firestore_field.prediction_seq]
}

# TTL on alerts: predict writes `expire_at` (a timestamp, 7 days after the
# alert: predict/alerts.py ALERT_RETENTION_DAYS) on every alerts/{id} document,
# so the collection stays bounded; the bridge streams only recent alerts by
# `created_at`, whose automatic index stays. No index on expire_at (a write
# hotspot nothing queries).
resource "google_firestore_field" "alert_expire_at" {
  database   = google_firestore_database.main.name
  collection = "alerts"
  field      = "expire_at"

  ttl_config {}

  index_config {}

  # Field-override operations on one database contend when run in parallel.
  depends_on = [google_firestore_field.prediction_expire_at]
}
