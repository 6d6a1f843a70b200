# Per-symbol bar/indicator state and ingest's dedupe keys. STANDARD_HA: a
# zone failure must not wipe indicator warm-up state. AUTH plus in-transit
# TLS; the connection URL (with password and CA) lives only in Secret Manager.
resource "google_redis_instance" "state" {
  name               = "${var.name_prefix}-state"
  region             = var.region
  tier               = "STANDARD_HA"
  memory_size_gb     = var.redis_memory_size_gb
  redis_version      = var.redis_version
  authorized_network = google_compute_network.vpc.id
  connect_mode       = "DIRECT_PEERING"

  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  redis_configs = {
    # Every key has a TTL, so the default volatile-lru would silently evict
    # live indicator state; failing writes are retried and alerted instead.
    maxmemory-policy = "noeviction"
  }

  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 6
        minutes = 0
        seconds = 0
        nanos   = 0
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
