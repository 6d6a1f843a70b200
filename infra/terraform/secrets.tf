# TICKCAST_REDIS_URL for ingest and features. rediss:// (TLS on port 6378),
# the AUTH string as password, and the instance's server CA in ssl_ca_data,
# which redis.from_url passes to the TLS connection: the URL alone is enough.
resource "google_secret_manager_secret" "redis_url" {
  secret_id = "${var.name_prefix}-redis-url"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "redis_url" {
  secret = google_secret_manager_secret.redis_url.id
  secret_data = format(
    "rediss://:%s@%s:%d/0?ssl_ca_data=%s",
    urlencode(google_redis_instance.state.auth_string),
    google_redis_instance.state.host,
    google_redis_instance.state.port,
    urlencode(google_redis_instance.state.server_ca_certs[0].cert),
  )
}

# JWT signing key of the bridge. Terraform creates only the container: the
# value is added (and rotated) with gcloud so it never enters the state.
resource "google_secret_manager_secret" "ws_jwt" {
  secret_id = "${var.name_prefix}-ws-jwt"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
