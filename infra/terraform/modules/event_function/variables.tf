variable "project_id" {
  type        = string
  description = "Project that owns the function and its subscriptions."
}

variable "region" {
  type        = string
  description = "Region of the function (Cloud Run service underneath it)."
}

variable "name" {
  type        = string
  description = "Function name; also the service account id and the underlying Cloud Run service name."

  validation {
    # Service account ids: 6-30 chars, lowercase letters, digits and hyphens.
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.name))
    error_message = "The name must be 6-30 lowercase letters, digits or hyphens and start with a letter."
  }
}

variable "entry_point" {
  type        = string
  description = "Python function in main.py that functions-framework serves (ingest, features or predict)."
}

variable "runtime" {
  type        = string
  description = "Cloud Functions runtime id."
  default     = "python311"
}

variable "source_bucket" {
  type        = string
  description = "Bucket holding the staged, zipped source."
}

variable "source_object" {
  type        = string
  description = "Object name of the zipped source; it carries a content hash, so a code change redeploys."
}

variable "build_service_account_id" {
  type        = string
  description = "Full resource id (projects/P/serviceAccounts/EMAIL) of the service account Cloud Build uses."
}

variable "docker_repository_id" {
  type        = string
  description = "Artifact Registry repository id (projects/P/locations/R/repositories/NAME) for the built image."
}

variable "environment" {
  type        = map(string)
  description = "Plain environment variables (names from tickcast.config.Settings)."
  default     = {}
}

variable "secret_environment" {
  type = map(object({
    secret  = string
    version = string
  }))
  description = "Environment variable name to the Secret Manager secret id and version it is read from."
  default     = {}
}

variable "project_roles" {
  type        = set(string)
  description = "Project-level roles of the function's own service account (only where no narrower scope exists, e.g. Firestore)."
  default     = []
}

variable "publish_topic_ids" {
  type        = map(string)
  description = "Short topic name to topic id the function publishes to; it gets roles/pubsub.publisher on each topic only."
  default     = {}
}

variable "secret_ids" {
  type        = map(string)
  description = "Label to secret id (projects/P/secrets/NAME) the function reads; roles/secretmanager.secretAccessor on each secret only."
  default     = {}
}

variable "object_read" {
  type = object({
    bucket = string
    prefix = string
  })
  description = "Bucket and object prefix the function may read (model artifacts), or null."
  default     = null
}

variable "subscriptions" {
  type = map(object({
    topic_id = string
    ordered  = bool
    name     = string
  }))
  description = "Short topic name to the topic id this function subscribes to by push, whether delivery is ordered by ordering key, and the subscription's name."

  validation {
    condition     = length(var.subscriptions) > 0
    error_message = "An event function needs at least one subscription."
  }
}

variable "invoker_service_account_email" {
  type        = string
  description = "Service account whose OIDC token Pub/Sub attaches to each push; the only principal that may invoke the function."
}

variable "pubsub_service_agent" {
  type        = string
  description = "Email of the project's Pub/Sub service agent (service-NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com)."
}

variable "dead_letter_topic_id" {
  type        = string
  description = "Topic id that undeliverable messages are forwarded to after max_delivery_attempts."
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries before Pub/Sub forwards a message to the dead-letter topic (5-100)."
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "retry_minimum_backoff" {
  type        = string
  description = "Smallest delay before a nack'd (5xx) push is retried, e.g. \"1s\"."
  default     = "1s"
}

variable "retry_maximum_backoff" {
  type        = string
  description = "Largest delay between retries of one message (at most 600s)."
  default     = "60s"
}

variable "message_retention_duration" {
  type        = string
  description = "How long an unacked message is kept on each subscription."
  default     = "86400s"
}

variable "max_instances" {
  type        = number
  description = "Upper bound on instances (caps cost and the fan-in on Redis/Firestore)."
}

variable "min_instances" {
  type        = number
  description = "Instances kept warm to avoid cold starts."
  default     = 0
}

variable "concurrency" {
  type        = number
  description = "Requests one instance handles at once (max_instance_request_concurrency)."

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000
    error_message = "Concurrency must be between 1 and 1000."
  }
}

variable "cpu" {
  type        = string
  description = "vCPUs per instance; concurrency above 1 needs at least 1 vCPU."
  default     = "1"
}

variable "memory" {
  type        = string
  description = "Memory per instance, e.g. \"512Mi\"."
  default     = "512Mi"
}

variable "timeout_seconds" {
  type        = number
  description = "Request timeout; also the push subscription's ack deadline, which Pub/Sub caps at 600 s."
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 10 && var.timeout_seconds <= 600
    error_message = "The timeout must be between 10 and 600 seconds (the largest push ack deadline)."
  }
}

variable "vpc_connector" {
  type        = string
  description = "Serverless VPC Access connector id for private egress (Memorystore), or null."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels on the function and its subscriptions."
  default     = {}
}
