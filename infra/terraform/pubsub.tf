module "topics" {
  source = "./modules/pubsub_topics"

  project_id = var.project_id
  region     = var.region
  prefix     = var.topic_prefix
  topics     = local.topics

  depends_on = [google_project_service.enabled]
}

# The identity Pub/Sub signs push requests as. It has no roles of its own
# beyond run.invoker on each function (granted in modules/event_function).
resource "google_service_account" "push_invoker" {
  account_id   = "${var.name_prefix}-push-invoker"
  display_name = "tickcast Pub/Sub push invoker"
  description  = "OIDC identity of every push subscription; may only invoke the event functions."

  depends_on = [google_project_service.enabled]
}

# Pub/Sub mints the OIDC tokens for push as this SA (needed explicitly in
# projects created before April 2021; harmless after).
resource "google_service_account_iam_member" "pubsub_mints_invoker_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_service_agent}"
}

# Dead-lettering: the Pub/Sub service agent publishes forwarded messages.
# (Subscriber on each source subscription is granted next to it in the module.)
resource "google_pubsub_topic_iam_member" "deadletter_publisher" {
  topic  = module.topics.ids["deadletter"]
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${local.pubsub_service_agent}"
}

# Pull subscription for operators: `gcloud pubsub subscriptions pull` shows
# what was dead-lettered and why (attributes stage, reason, error).
resource "google_pubsub_subscription" "deadletter_inspect" {
  name                       = "${var.topic_prefix}${local.topology.deadletter_inspect.subscription}"
  topic                      = module.topics.ids["deadletter"]
  ack_deadline_seconds       = local.topology.deadletter_inspect.ack_deadline_seconds
  message_retention_duration = var.deadletter_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}
