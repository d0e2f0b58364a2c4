# The alternative path (README "From CloudWatch (SNS and EventBridge)"): EventBridge sees every
# alarm's state changes, OK included, without touching the alarms, and posts each event to
# /hooks/eventbridge through an API destination carrying the token in X-Tocsin-Token.
# Off unless var.eventbridge_enabled.

locals {
  eventbridge = var.eventbridge_enabled ? 1 : 0
}

resource "aws_cloudwatch_event_connection" "tocsin" {
  count              = local.eventbridge
  name               = "tocsin"
  authorization_type = "API_KEY"
  auth_parameters {
    api_key {
      key   = "X-Tocsin-Token"
      value = var.eventbridge_token
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "tocsin" {
  count                            = local.eventbridge
  name                             = "tocsin"
  connection_arn                   = aws_cloudwatch_event_connection.tocsin[0].arn
  invocation_endpoint              = "${var.tocsin_url}/hooks/eventbridge"
  http_method                      = "POST"
  invocation_rate_limit_per_second = 10
}

resource "aws_cloudwatch_event_rule" "alarms" {
  count       = local.eventbridge
  name        = "tocsin-alarms"
  description = "Every CloudWatch alarm state change, to Tocsin"
  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
  })
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "eventbridge_to_tocsin" {
  count              = local.eventbridge
  name               = "eventbridge-to-tocsin"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

resource "aws_iam_role_policy" "invoke_api_destination" {
  count = local.eventbridge
  name  = "invoke-tocsin"
  role  = aws_iam_role.eventbridge_to_tocsin[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "events:InvokeApiDestination"
      Resource = aws_cloudwatch_event_api_destination.tocsin[0].arn
    }]
  })
}

# The whole event is sent (no input transformer): it is what /hooks/eventbridge reads.
# EventBridge retries a failed delivery (5xx, 429, no answer) for up to 24 hours.
resource "aws_cloudwatch_event_target" "tocsin" {
  count    = local.eventbridge
  rule     = aws_cloudwatch_event_rule.alarms[0].name
  arn      = aws_cloudwatch_event_api_destination.tocsin[0].arn
  role_arn = aws_iam_role.eventbridge_to_tocsin[0].arn
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}
