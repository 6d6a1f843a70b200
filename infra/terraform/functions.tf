# Cloud Build runs the function builds as this account instead of the
# project's default (which recent projects leave without roles).
resource "google_service_account" "function_build" {
  account_id   = "${var.name_prefix}-fn-build"
  display_name = "tickcast function builds"
  description  = "Cloud Build identity for the event functions: reads sources, pushes images, writes build logs."

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "function_build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_artifact_registry_repository_iam_member" "function_build_push" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_storage_bucket_iam_member" "function_build_sources" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"

  condition {
    title       = "only-sources"
    description = "Function source zips only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.artifacts.name}/objects/sources/\")"
  }
}

module "functions" {
  source   = "./modules/event_function"
  for_each = local.functions

  project_id  = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-${each.key}"
  entry_point = each.key
  labels      = local.labels

  source_bucket            = google_storage_bucket.artifacts.name
  source_object            = google_storage_bucket_object.function_source[each.key].name
  build_service_account_id = google_service_account.function_build.id
  docker_repository_id     = google_artifact_registry_repository.functions.id

  environment = local.function_env[each.key]
  # Filtered for-expressions rather than `cond ? {...} : {}`: the two arms
  # of a conditional must have the same object type.
  secret_environment = {
    for k, v in {
      TICKCAST_REDIS_URL = {
        secret  = google_secret_manager_secret.redis_url.secret_id
        version = google_secret_manager_secret_version.redis_url.version
      }
    } : k => v if each.value.uses_redis
  }

  project_roles     = toset(each.value.project_roles)
  publish_topic_ids = { for t in each.value.publishes : t => module.topics.ids[t] }
  secret_ids        = { for k, v in { redis_url = google_secret_manager_secret.redis_url.id } : k => v if each.value.uses_redis }
  object_read = each.value.reads_models ? {
    bucket = google_storage_bucket.artifacts.name
    prefix = "models/"
  } : null

  subscriptions = {
    for topic, sub in each.value.subscriptions : topic => {
      topic_id = module.topics.ids[topic]
      ordered  = sub.ordered
    }
  }
  subscription_prefix           = var.topic_prefix
  invoker_service_account_email = google_service_account.push_invoker.email
  pubsub_service_agent          = local.pubsub_service_agent
  dead_letter_topic_id          = module.topics.ids["deadletter"]
  max_delivery_attempts         = var.max_delivery_attempts
  retry_minimum_backoff         = var.retry_backoff.minimum
  retry_maximum_backoff         = var.retry_backoff.maximum
  message_retention_duration    = var.topic_retention

  max_instances   = local.function_scaling[each.key].max_instances
  min_instances   = local.function_scaling[each.key].min_instances
  concurrency     = local.function_scaling[each.key].concurrency
  cpu             = local.function_scaling[each.key].cpu
  memory          = local.function_scaling[each.key].memory
  timeout_seconds = local.function_scaling[each.key].timeout_seconds

  # Only Redis users egress into the VPC; the rest keep the default path.
  vpc_connector = each.value.uses_redis ? google_vpc_access_connector.main.id : null

  depends_on = [
    google_project_iam_member.function_build_logs,
    google_artifact_registry_repository_iam_member.function_build_push,
    google_storage_bucket_iam_member.function_build_sources,
    google_pubsub_topic_iam_member.deadletter_publisher,
    google_firestore_database.main,
  ]
}
