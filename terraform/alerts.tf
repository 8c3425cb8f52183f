# Job failure alerts: an EventBridge rule on "Glue Job State Change" (FAILED, TIMEOUT, STOPPED, ...) for the
# pipeline's jobs, with the pattern of workflow/job_failure_event_pattern.json filled with this environment's job
# names (the local alerting fills and matches the same file), publishing to an SNS topic that emails the alert
# addresses. The topic is
# encrypted with a customer-managed key whose policy lets EventBridge and CloudWatch alarms use it (kms.tf).

resource "aws_sns_topic" "alerts" {
  name              = "${local.name_prefix}-pipeline-alerts"
  display_name      = "${local.name_prefix} pipeline alerts"
  kms_master_key_id = aws_kms_key.this["alerts"].arn
}

# EventBridge cannot be given Condition blocks in an SNS topic policy; the alarms are held to this account's.
data "aws_iam_policy_document" "alerts_topic" {
  statement {
    sid       = "EventBridgePublishesJobFailures"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsOfThisAccountPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name_prefix}-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

# Each address gets a confirmation email; until it is confirmed Terraform cannot remove the subscription.
resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_email_addresses)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_event_rule" "job_failure" {
  name          = "${local.name_prefix}-glue-job-failure"
  description   = "A ${local.name_prefix} Glue job run ended FAILED, TIMEOUT, STOPPED or ERROR (pattern: workflow/job_failure_event_pattern.json)"
  event_pattern = jsonencode(local.job_failure_event_pattern)
  state         = "ENABLED"

  lifecycle {
    # The pattern names this environment's jobs exactly: every job of the workflow, and nothing else.
    precondition {
      condition     = sort(local.job_failure_event_pattern.detail.jobName) == sort([for job in values(local.jobs) : job.name])
      error_message = "The jobName of workflow/job_failure_event_pattern.json must be exactly the jobs of workflow/workflow.json."
    }
  }
}

resource "aws_cloudwatch_event_target" "job_failure_email" {
  rule      = aws_cloudwatch_event_rule.job_failure.name
  target_id = "sns-alerts"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      job     = "$.detail.jobName"
      run     = "$.detail.jobRunId"
      state   = "$.detail.state"
      message = "$.detail.message"
      time    = "$.time"
      region  = "$.region"
    }
    input_template = "\"Glue job <job> run <run> ended <state> at <time> (<region>): <message>. Logs: CloudWatch log group of the job's role; run details: Glue console, Job run monitoring.\""
  }

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}
