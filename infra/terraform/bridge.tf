resource "google_service_account" "bridge" {
  account_id   = "${var.name_prefix}-ws-bridge"
  display_name = "tickcast ws_bridge"
  description  = "Runtime identity of the WebSocket bridge: reads Firestore, its JWT secret and its own tickcast-ticks subscription."

  depends_on = [google_project_service.enabled]
}

# The bridge only reads: on_snapshot listeners on symbols/ and predictions,
# API-key hashes in api_keys/. Firestore roles exist only at project level.
resource "google_project_iam_member" "bridge_firestore_reader" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.bridge.email}"
}

resource "google_secret_manager_secret_iam_member" "bridge_jwt" {
  secret_id = google_secret_manager_secret.ws_jwt.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.bridge.email}"
}

# Channel `trades` (src/tickcast/bridge/trades.py): each instance creates its own
# pull subscription on tickcast-ticks at start-up, reads it, and deletes it on
# shutdown (its 1-day expiration policy removes one left by a crash).
# Attaching a subscription is checked on the topic: subscriber on tickcast-ticks
# only (pubsub.topics.attachSubscription + consume), no other topic.
resource "google_pubsub_topic_iam_member" "bridge_ticks_subscriber" {
  topic  = module.topics.ids["ticks"]
  role   = "roles/pubsub.subscriber"
  member = "serviceAccount:${google_service_account.bridge.email}"
}

# Creating and deleting a subscription are checked on the project; no predefined
# role has only these (roles/pubsub.editor also publishes and edits topics), so a
# custom role holds exactly what trades.py calls: create, get, consume, delete.
# Not narrowed by name with an IAM condition: the bridge's names carry
# "<topic_prefix>ws-bridge-trades-" so an operator can see them, nothing enforces it.
resource "google_project_iam_custom_role" "bridge_trades" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_ws_bridge_trades"
  title       = "tickcast ws_bridge trades subscription"
  description = "Create, read from and delete the bridge instance's own tickcast-ticks subscription."
  permissions = [
    "pubsub.subscriptions.consume",
    "pubsub.subscriptions.create",
    "pubsub.subscriptions.delete",
    "pubsub.subscriptions.get",
  ]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "bridge_trades" {
  project = var.project_id
  role    = google_project_iam_custom_role.bridge_trades.id
  member  = "serviceAccount:${google_service_account.bridge.email}"
}

resource "google_cloud_run_v2_service" "bridge" {
  name                = "${var.name_prefix}-ws-bridge"
  location            = var.region
  description         = "tickcast WebSocket bridge (/ws) and REST reads."
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account = google_service_account.bridge.email
    # A WebSocket is one long request: Cloud Run closes it at the timeout
    # (max 3600 s) and clients reconnect with `since` to catch up.
    timeout                          = "3600s"
    max_instance_request_concurrency = var.bridge_scaling.concurrency
    # Reconnecting clients land on the instance that already holds their subscriptions.
    session_affinity      = true
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = var.bridge_scaling.min_instances
      max_instance_count = var.bridge_scaling.max_instances
    }

    containers {
      image = local.bridge_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.bridge_scaling.cpu
          memory = var.bridge_scaling.memory
        }
        # Firestore listeners run on background threads between requests;
        # throttled CPU outside requests would stall them.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.bridge_env
        content {
          name  = env.key
          value = env.value
        }
      }

      # Channel `trades` subscribes to "<prefix>ticks": the same prefix as the functions.
      env {
        name  = "TICKCAST_TOPIC_PREFIX"
        value = var.topic_prefix
      }

      env {
        name = "TICKCAST_WS_JWT_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.ws_jwt.secret_id
            version = var.ws_jwt_secret_version
          }
        }
      }

      # Traffic is sent only once the listeners are up (readiness).
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 2
        timeout_seconds       = 1
        failure_threshold     = 30
        http_get {
          path = "/readyz"
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
    google_secret_manager_secret_iam_member.bridge_jwt,
    google_project_iam_member.bridge_firestore_reader,
    google_project_iam_member.bridge_trades,
    google_pubsub_topic_iam_member.bridge_ticks_subscriber,
  ]
}

# The ONLY public binding in this stack. Browsers cannot attach Google OIDC
# tokens to a WebSocket, so Cloud Run IAM cannot be the gate here: the bridge
# authenticates every client itself (API key hashed against api_keys/, or a
# JWT signed with TICKCAST_WS_JWT_SECRET) and serves read-only data. The event
# functions are never public: internal ingress + run.invoker for the push
# invoker only.
resource "google_cloud_run_v2_service_iam_member" "bridge_public" {
  project  = var.project_id
  location = google_cloud_run_v2_service.bridge.location
  name     = google_cloud_run_v2_service.bridge.name
  role     = "roles/run.invoker"
  member   = "allUsers"

  #checkov:skip=CKV_GCP_102:Public by design: browsers cannot send Google-signed tokens on a WebSocket; the bridge authenticates clients with API keys/JWT and is read-only (docs/DEPLOY.md).
}
