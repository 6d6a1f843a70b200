variable "project_id" {
  type        = string
  description = "Project that owns the topics."
}

variable "region" {
  type        = string
  description = "The only region where Pub/Sub may persist messages (data residency)."
}

variable "prefix" {
  type        = string
  description = "Prefix of every topic name; must equal the application's TICKCAST_TOPIC_PREFIX."

  validation {
    # Pub/Sub topic ids start with a letter; the rest mirrors tickcast.config's prefix validator.
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._-]*$", var.prefix))
    error_message = "The prefix must start with a letter and contain only letters, digits, '-', '_' or '.'."
  }
}

variable "topics" {
  type = map(object({
    retention = string
  }))
  description = "Short topic name (raw, ticks, ...) to its message retention duration, e.g. \"86400s\"."

  validation {
    condition = alltrue([
      for t in values(var.topics) :
      can(regex("^[0-9]+s$", t.retention)) && try(tonumber(trimsuffix(t.retention, "s")) >= 600 && tonumber(trimsuffix(t.retention, "s")) <= 2678400, false)
    ])
    error_message = "Topic retention must be between 600s and 2678400s (31 days), written like \"86400s\"."
  }
}
