output "function_name" {
  description = "Name of the function (and of its Cloud Run service)."
  value       = google_cloudfunctions2_function.this.name
}

output "url" {
  description = "HTTPS endpoint of the function; reachable only with internal ingress and the invoker's token."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service_account_email" {
  description = "The function's own runtime service account."
  value       = google_service_account.this.email
}

output "subscription_names" {
  description = "Short topic name to the name of the push subscription feeding this function."
  value       = { for k, s in google_pubsub_subscription.push : k => s.name }
}
