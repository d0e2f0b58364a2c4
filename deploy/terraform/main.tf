# The AWS side of Tocsin (docs/operations.md "AWS wiring"): an SNS topic with Tocsin
# subscribed over HTTPS, a CloudWatch alarm that tells the topic both when it fires and when it
# recovers, and optionally the EventBridge path. Not applied or `terraform validate`d in
# Tocsin's CI (no Terraform there): an example to adapt.

# SignatureVersion 2 (SHA256withRSA): lets Tocsin refuse SHA-1 signatures with
# sources.sns.min_signature_version: 2.
resource "aws_sns_topic" "alerts" {
  name              = var.topic_name
  signature_version = 2
}

# Tocsin's /hooks/sns verifies each message's signature (no token). SNS first posts a
# SubscriptionConfirmation: Tocsin lists it at GET /api/v1/subscriptions for a human to
# confirm (or confirms it itself with sources.sns.auto_confirm: true), so the subscription
# stays "pending confirmation" until then; Terraform does not wait for it.
# Raw message delivery stays off: a raw message carries no signature.
resource "aws_sns_topic_subscription" "tocsin" {
  topic_arn              = aws_sns_topic.alerts.arn
  protocol               = "https"
  endpoint               = "${var.tocsin_url}/hooks/sns"
  endpoint_auto_confirms = false
  raw_message_delivery   = false

  # SNS's default for HTTPS is 3 retries 20 s apart: a minute, less than a Tocsin restart can
  # take (the startup quick_check of a large database, a migration, a host reboot), after
  # which the alarm is dropped. This keeps retrying for about 52 minutes (the most SNS allows
  # is 3600 s in all) while getting an answer through within 2 minutes of Tocsin's return:
  # 2 retries 5 s apart, 18 retries backing off exponentially from 5 s to 120 s (about 12
  # minutes), then 20 retries 120 s apart (40 minutes). SNS retries 5xx answers and failed
  # connections; Tocsin answers 503 with Retry-After while its database cannot commit, and
  # recognises a retried message by its MessageId, so a retry is never a second event.
  delivery_policy = jsonencode({
    healthyRetryPolicy = {
      numRetries         = 40
      numNoDelayRetries  = 0
      minDelayTarget     = 5
      numMinDelayRetries = 2
      backoffFunction    = "exponential"
      maxDelayTarget     = 120
      numMaxDelayRetries = 20
    }
    throttlePolicy = {
      # Tocsin commits in groups (docs/benchmarks.md): far above this. A bound, so that a
      # storm of alarms cannot flood a reverse proxy's per-address limits.
      maxReceivesPerSecond = 50
    }
  })
}

# The incident's alarm, with the action it lacked: ok_actions. Without it the alarm never says
# it recovered, the open page stays open, and the next ALARM is folded into it.
resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${var.queue_name}-queue-age"
  alarm_description   = "The oldest message of ${var.queue_name} is older than ${var.queue_age_threshold_seconds} s: is its worker running?"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.queue_age_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  # SQS stops sending the metric for a queue idle for hours: an empty queue is not an outage.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.alerts.arn]
  ok_actions         = [aws_sns_topic.alerts.arn]
}
