# Builds. Cloud Build runs each function build (and scripts/deploy.sh's bridge
# image build) as an account of ours, set explicitly (build_config.service_account,
# `gcloud builds submit --service-account`), instead of the project's default
# build account, which projects created since July 2024 leave without roles.
#
# What a Cloud Functions (2nd gen) build account needs, per
# https://cloud.google.com/run/docs/configuring/services/build-service-account
# ("Logs Writer ... Artifact Registry Writer ... Storage Object Admin — for
# retrieving the function source from the Cloud Storage bucket"):
#   - write build logs: roles/logging.logWriter on the project (logs have no finer scope);
#   - push the image: roles/artifactregistry.writer on our functions repository
#     (build_config.docker_repository), not project-wide;
#   - read the source: Cloud Functions copies build_config.source into its own
#     bucket gcf-v2-sources-PROJECT_NUMBER-REGION and builds from there
#     (https://cloud.google.com/functions/docs/building). That bucket is created by
#     the first deploy, so the grant is project-level with an IAM condition on the
#     bucket's name. The role is the page's own, Storage Object Admin, limited by
#     the condition to that bucket: the first deploy must work, and nothing here
#     can show that reading alone is enough for every build step.
#   - and our own sources/ prefix (the zips Terraform uploads, the bridge's
#     build context uploaded by scripts/deploy.sh).
resource "google_service_account" "function_build" {
  account_id   = "${var.name_prefix}-fn-build"
  display_name = "tickcast builds"
  description  = "Cloud Build identity of the function builds and the bridge image build: reads sources, pushes images, writes build logs."

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

# scripts/deploy.sh builds ws-bridge:<commit> with Cloud Build as the same account.
resource "google_artifact_registry_repository_iam_member" "function_build_push_bridge" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_project_iam_member" "function_build_gcf_sources" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = "serviceAccount:${google_service_account.function_build.email}"

  condition {
    title       = "only-gcf-v2-sources"
    description = "The bucket Cloud Functions copies each function's source into before the build."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}\")"
  }
}

resource "google_storage_bucket_iam_member" "function_build_sources" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"

  condition {
    title       = "only-sources"
    description = "Function source zips and the bridge's build context only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.artifacts.name}/objects/sources/\")"
  }
}

# IAM grants take a while to reach every Google service; a build started at
# once can fail to read its source. The google provider's own example
# (cloudfunctions2_basic_builder) waits 60 s the same way.
resource "time_sleep" "build_iam_propagation" {
  create_duration = "60s"

  depends_on = [
    google_project_iam_member.function_build_logs,
    google_artifact_registry_repository_iam_member.function_build_push,
    google_artifact_registry_repository_iam_member.function_build_push_bridge,
    google_project_iam_member.function_build_gcf_sources,
    google_storage_bucket_iam_member.function_build_sources,
  ]
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

  # The routes, names and delivery policy of local.topology (topology.json),
  # exactly what `tickcast local up` creates on the emulator.
  subscriptions = {
    for r in local.topology.routes : r.topic => {
      topic_id = module.topics.ids[r.topic]
      ordered  = r.ordered
      name     = "${var.topic_prefix}${r.subscription}"
    } if r.function == each.key
  }
  invoker_service_account_email = google_service_account.push_invoker.email
  pubsub_service_agent          = local.pubsub_service_agent
  dead_letter_topic_id          = module.topics.ids["deadletter"]
  max_delivery_attempts         = local.topology.push.max_delivery_attempts
  retry_minimum_backoff         = "${local.topology.push.minimum_backoff_seconds}s"
  retry_maximum_backoff         = "${local.topology.push.maximum_backoff_seconds}s"
  message_retention_duration    = var.topic_retention

  max_instances = local.function_scaling[each.key].max_instances
  min_instances = local.function_scaling[each.key].min_instances
  concurrency   = local.function_scaling[each.key].concurrency
  cpu           = local.function_scaling[each.key].cpu
  memory        = local.function_scaling[each.key].memory
  # The request timeout is the push ack deadline: Pub/Sub must not redeliver
  # a message its function is still working on.
  timeout_seconds = local.topology.push.ack_deadline_seconds

  # Only Redis users egress into the VPC; the rest keep the default path.
  vpc_connector = each.value.uses_redis ? google_vpc_access_connector.main.id : null

  depends_on = [
    # Every resource in the module (its service account first) waits for the APIs.
    google_project_service.enabled,
    time_sleep.build_iam_propagation,
    google_pubsub_topic_iam_member.deadletter_publisher,
    google_firestore_database.main,
  ]
}
