output "topic_arn" {
  description = "List it under sources.sns.topics in Tocsin's rules file (others are refused with 403 topic_not_allowed)."
  value       = aws_sns_topic.alerts.arn
}

output "subscription_arn" {
  description = "The HTTPS subscription; pending until confirmed through GET /api/v1/subscriptions (or auto_confirm)."
  value       = aws_sns_topic_subscription.tocsin.arn
}

output "alarm_arn" {
  value = aws_cloudwatch_metric_alarm.queue_age.arn
}

output "eventbridge_rule_arn" {
  value = var.eventbridge_enabled ? aws_cloudwatch_event_rule.alarms[0].arn : null
}
