# One Cloud Functions (2nd gen) function behind Pub/Sub push: its own service
# account holding only the grants passed in, push subscriptions that
# authenticate with the invoker's OIDC token, and run.invoker for that invoker
# alone. Internal ingress: Pub/Sub push from the same project counts as
# internal traffic, nothing else reaches the function.

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = var.name
  display_name = "tickcast ${var.entry_point} function"
  description  = "Runtime identity of the ${var.entry_point} function; holds only that function's grants."
}

resource "google_project_iam_member" "this" {
  for_each = var.project_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.this.email}"
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = var.publish_topic_ids

  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.this.email}"
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = var.secret_ids

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.this.email}"
}

resource "google_storage_bucket_iam_member" "object_reader" {
  count = var.object_read == null ? 0 : 1

  bucket = var.object_read.bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.this.email}"

  # The bucket also holds function sources; the condition limits reads to the prefix.
  condition {
    title       = "only-${trimsuffix(var.object_read.prefix, "/")}"
    description = "Objects under ${var.object_read.prefix} only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${var.object_read.bucket}/objects/${var.object_read.prefix}\")"
  }
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = "tickcast ${var.entry_point} stage (Pub/Sub push, CloudEvent)."
  labels      = var.labels

  build_config {
    runtime           = var.runtime
    entry_point       = var.entry_point
    service_account   = var.build_service_account_id
    docker_repository = var.docker_repository_id

    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    max_instance_count               = var.max_instances
    min_instance_count               = var.min_instances
    max_instance_request_concurrency = var.concurrency
    available_cpu                    = var.cpu
    available_memory                 = var.memory
    timeout_seconds                  = var.timeout_seconds
    # functions-framework's gunicorn serves THREADS requests at a time, and
    # defaults to 4 per CPU whatever Cloud Run's concurrency says: without this
    # an instance accepts `concurrency` pushes and queues all but 4 of them.
    environment_variables          = merge(var.environment, { THREADS = tostring(var.concurrency) })
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.this.email
    vpc_connector                  = var.vpc_connector
    vpc_connector_egress_settings  = var.vpc_connector == null ? null : "PRIVATE_RANGES_ONLY"

    dynamic "secret_environment_variables" {
      for_each = var.secret_environment
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }

  # The deploy checks that the runtime identity can read its secrets.
  depends_on = [google_secret_manager_secret_iam_member.accessor]
}

# A 2nd gen function is a Cloud Run service of the same name: invoking it
# needs run.invoker there, and only the push invoker gets it.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.invoker_service_account_email}"
}

resource "google_pubsub_subscription" "push" {
  for_each = var.subscriptions

  project = var.project_id
  name    = each.value.name
  topic   = each.value.topic_id
  labels  = var.labels

  # For push, the ack deadline is how long Pub/Sub waits for the HTTP response.
  ack_deadline_seconds       = var.timeout_seconds
  message_retention_duration = var.message_retention_duration
  enable_message_ordering    = each.value.ordered

  push_config {
    push_endpoint = google_cloudfunctions2_function.this.service_config[0].uri

    oidc_token {
      service_account_email = var.invoker_service_account_email
      audience              = google_cloudfunctions2_function.this.service_config[0].uri
    }
  }

  # A 5xx (transient error) is retried with exponential backoff, not hot-looped.
  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = var.dead_letter_topic_id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # The default policy deletes a subscription after 31 idle days (a quiet market).
  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

# Dead-lettering is done by the Pub/Sub service agent: it must be able to
# pull (and ack) from the source subscription; publishing to the dead-letter
# topic is granted once at the root.
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = var.subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}
