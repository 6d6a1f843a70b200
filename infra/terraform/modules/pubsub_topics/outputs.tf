output "ids" {
  description = "Short topic name to topic id (projects/P/topics/NAME)."
  value       = { for k, t in google_pubsub_topic.this : k => t.id }
}

output "names" {
  description = "Short topic name to full topic name (with the prefix)."
  value       = { for k, t in google_pubsub_topic.this : k => t.name }
}
