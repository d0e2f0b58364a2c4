variable "region" {
  description = "AWS region of the topic, the alarm and the EventBridge rule."
  type        = string
  default     = "us-east-1"
}

variable "tocsin_url" {
  description = "Tocsin's public base URL, https, without a trailing slash (e.g. https://tocsin.example.com): SNS and EventBridge post to its /hooks/sns and /hooks/eventbridge."
  type        = string
  validation {
    condition     = can(regex("^https://[^/]+$", var.tocsin_url))
    error_message = "tocsin_url must be https://HOST (no path, no trailing slash): SNS signs nothing about plain http."
  }
}

variable "topic_name" {
  description = "The SNS topic alarms publish to. List its ARN (output topic_arn) in the rules' sources.sns.topics."
  type        = string
  default     = "alerts-critical"
}

variable "queue_name" {
  description = "The SQS queue whose oldest message age is watched (the queue of the incident: a stopped worker)."
  type        = string
  default     = "hooks-worker"
}

variable "queue_age_threshold_seconds" {
  description = "ALARM when the queue's oldest message is older than this, 3 minutes out of 5."
  type        = number
  default     = 600
}

variable "eventbridge_enabled" {
  description = "Also send every CloudWatch alarm state change to /hooks/eventbridge through an API destination (the alternative path; both at once are fine, README \"From CloudWatch\")."
  type        = bool
  default     = false
}

variable "eventbridge_token" {
  description = "The token /hooks/eventbridge checks: the value of TOCSIN_EVENTBRIDGE_TOKEN in Tocsin's environment. Only with eventbridge_enabled. Kept in the state file: protect it."
  type        = string
  default     = ""
  sensitive   = true
}
