locals {
  build_dir = coalesce(var.build_dir, abspath("${path.root}/../../build"))

  labels = merge(var.labels, {
    app         = "tickcast"
    environment = var.environment
    managed-by  = "terraform"
  })

  # Topic short names are tickcast.config.TOPICS; the full name is
  # "${var.topic_prefix}${name}", exactly Settings().topic(name).
  topics = {
    raw        = { retention = var.topic_retention }
    ticks      = { retention = var.topic_retention }
    features   = { retention = var.topic_retention }
    clock      = { retention = "600s" }
    deadletter = { retention = var.deadletter_retention }
  }

  # The push topology, defined once and shared with `tickcast local up`: routes
  # (topic -> function, ordering), subscription names, ack deadline, retry
  # backoff and dead-letter attempts.
  topology = jsondecode(file("${path.module}/../../src/tickcast/deploy/topology.json"))

  # One entry per directory under functions/ (ws_bridge is the Cloud Run
  # service, not an event function). With its routes in local.topology, this
  # map is each function's whole authority: the topics it may publish to, its
  # project roles, whether it reads the Redis secret (and egresses through the
  # VPC connector), and whether it reads model artifacts.
  functions = {
    ingest = {
      publishes     = ["ticks", "deadletter"]
      project_roles = []
      uses_redis    = true
      reads_models  = false
    }
    features = {
      publishes     = ["features", "deadletter"]
      project_roles = []
      uses_redis    = true
      reads_models  = false
    }
    predict = {
      publishes = ["deadletter"]
      # Firestore IAM is project-wide: there is no per-collection role.
      project_roles = ["roles/datastore.user"]
      uses_redis    = false
      reads_models  = true
    }
  }

  default_function_scaling = { max_instances = 10, min_instances = 0, concurrency = 8, cpu = "1", memory = "512Mi" }
  function_scaling = {
    for name in keys(local.functions) : name => merge(local.default_function_scaling, try(var.function_scaling[name], {}))
  }

  # Names are tickcast.config.Settings aliases (tests/unit/deploy checks it).
  common_env = {
    GOOGLE_CLOUD_PROJECT  = var.project_id
    TICKCAST_TOPIC_PREFIX = var.topic_prefix
    TICKCAST_BAR_SECONDS  = tostring(var.bar_seconds)
    TICKCAST_LOG_LEVEL    = var.log_level
  }
  function_env = {
    ingest   = merge(local.common_env, lookup(var.function_extra_env, "ingest", {}))
    features = merge(local.common_env, lookup(var.function_extra_env, "features", {}))
    predict = merge(local.common_env, {
      TICKCAST_MODEL_URI    = var.model_uri
      TICKCAST_HORIZON_BARS = tostring(var.horizon_bars)
    }, lookup(var.function_extra_env, "predict", {}))
  }

  bridge_env = {
    GOOGLE_CLOUD_PROJECT              = var.project_id
    TICKCAST_LOG_LEVEL                = var.log_level
    TICKCAST_WS_ALLOW_UNAUTHENTICATED = "false"
  }

  # Where Cloud Functions copies each function's source before building it
  # (https://cloud.google.com/functions/docs/building).
  gcf_sources_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"

  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  bridge_image = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/ws-bridge:${var.bridge_image_tag}"
}
