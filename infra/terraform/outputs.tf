output "topics" {
  description = "Short topic name to full topic name (equal to tickcast Settings().topic(name))."
  value       = module.topics.names
}

output "function_urls" {
  description = "Function name to its internal-only HTTPS endpoint (push targets)."
  value       = { for k, m in module.functions : k => m.url }
}

output "function_service_accounts" {
  description = "Function name to its own runtime service account."
  value       = { for k, m in module.functions : k => m.service_account_email }
}

output "push_subscriptions" {
  description = "Function name to its push subscriptions (short topic name to subscription name)."
  value       = { for k, m in module.functions : k => m.subscription_names }
}

output "deadletter_subscription" {
  description = "Pull subscription for inspecting dead-lettered messages."
  value       = google_pubsub_subscription.deadletter_inspect.name
}

output "push_invoker_service_account" {
  description = "Identity of the OIDC tokens on every push request."
  value       = google_service_account.push_invoker.email
}

output "bridge_url" {
  description = "Public URL of ws_bridge; clients connect to wss://HOST/ws."
  value       = google_cloud_run_v2_service.bridge.uri
}

output "bridge_image" {
  description = "Image the bridge runs."
  value       = local.bridge_image
}

output "image_repository" {
  description = "Docker repository path to push the bridge image to."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "artifacts_bucket" {
  description = "Bucket for function sources (sources/) and model artifacts (models/)."
  value       = google_storage_bucket.artifacts.name
}

output "redis_host" {
  description = "Private address of Memorystore (the full URL with AUTH is only in Secret Manager)."
  value       = google_redis_instance.state.host
}

output "redis_url_secret" {
  description = "Secret Manager secret holding TICKCAST_REDIS_URL."
  value       = google_secret_manager_secret.redis_url.secret_id
}

output "ws_jwt_secret" {
  description = "Secret Manager secret holding the bridge's JWT signing key (versions added with gcloud)."
  value       = google_secret_manager_secret.ws_jwt.secret_id
}

output "dashboard_id" {
  description = "Cloud Monitoring dashboard id."
  value       = google_monitoring_dashboard.main.id
}

output "build_service_account" {
  description = "Account Cloud Build runs as: function builds (build_config.service_account) and the bridge image build (scripts/deploy.sh)."
  value       = google_service_account.function_build.email
}
