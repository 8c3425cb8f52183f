# Logs and metrics: the log groups Glue writes the jobs' and crawlers' logs to (created here so they have a
# retention and the logs key), metrics from the jobs' JSON log lines (totes/logs.py), an alarm per job on
# ERROR lines and one on undeliverable failure events, all to the alerts topic, and a dashboard.

resource "aws_cloudwatch_log_group" "glue" {
  for_each = local.log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this["logs"].arn
}

locals {
  # Metrics from the jobs' log events, each with the job's name as the JobName dimension ($.job).
  log_metrics = {
    ErrorLogLines = { pattern = "{ $.level = \"ERROR\" }", value = "1" }
    RunsStarted   = { pattern = "{ $.message = \"job started\" }", value = "1" }
    RunsSucceeded = { pattern = "{ $.message = \"job succeeded\" }", value = "1" }
    RunsFailed    = { pattern = "{ $.message = \"job failed*\" }", value = "1" }
    RowsProcessed = {
      pattern = "{ ($.message = \"table ingested\") || ($.message = \"fact built\") || ($.message = \"dimension built\") || ($.message = \"table loaded\") }"
      value   = "$.rows"
    }
  }
  job_log_metrics = merge([
    for job in keys(local.jobs) : {
      for metric, spec in local.log_metrics : "${job}-${metric}" => merge(spec, { job = job, metric = metric })
    }
  ]...)
}

# Glue 5.x sends the driver's stdout and stderr, where the jobs write their JSON lines, to the output log group
# (its error group holds Spark's and Glue's own lines, which are not JSON).
resource "aws_cloudwatch_log_metric_filter" "job" {
  for_each = local.job_log_metrics

  name           = "${local.name_prefix}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.glue["${each.value.job}-output"].name
  pattern        = each.value.pattern

  metric_transformation {
    namespace  = local.metric_namespace
    name       = each.value.metric
    value      = each.value.value
    unit       = each.value.metric == "RowsProcessed" ? "Count" : "None"
    dimensions = { JobName = "$.job" }
  }
}

resource "aws_cloudwatch_metric_alarm" "job_error_logs" {
  for_each = local.jobs

  alarm_name          = "${local.name_prefix}-${each.key}-error-log-lines"
  alarm_description   = "Glue job ${each.value.name} logged ERROR lines (log group ${local.job_log_groups[each.key].output})"
  namespace           = local.metric_namespace
  metric_name         = "ErrorLogLines"
  dimensions          = { JobName = each.value.name }
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.error_log_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  depends_on = [aws_cloudwatch_log_metric_filter.job]
}

# The data-quality report (README "Data quality"): a run that quarantined more than its job's
# --max-quarantine-share of its new rows alarms. A run with nothing new publishes no share, so missing data is
# not breaching here (the freshness alarm is the one that notices runs that stop).
resource "aws_cloudwatch_metric_alarm" "quarantine_share" {
  for_each = local.quality_jobs

  alarm_name          = "${local.name_prefix}-${each.key}-quarantine-share"
  alarm_description   = "A ${local.jobs[each.key].name} run quarantined more than a share of ${each.value} of its new rows (${local.quality.metric_names.share}); its manifest's table details hold the quality report with example reasons"
  namespace           = local.metric_namespace
  metric_name         = local.quality.metric_names.share
  dimensions          = { JobName = local.jobs[each.key].name }
  statistic           = "Maximum"
  period              = 900
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# A failure event EventBridge could not deliver (e.g. a key or topic policy broken) is a silent failure.
resource "aws_cloudwatch_metric_alarm" "failure_events_undelivered" {
  alarm_name          = "${local.name_prefix}-failure-events-undelivered"
  alarm_description   = "EventBridge could not deliver a Glue job failure event of rule ${aws_cloudwatch_event_rule.job_failure.name} to the alerts topic"
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.job_failure.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# The freshness promise (workflow.json's freshness block, README "Freshness"): over every promise-long period,
# a load whose lag exceeded the promise alarms, and so does a period in which no load published its lag at all
# (the schedule stopped, a job hangs or keeps failing): missing data is breaching.
resource "aws_cloudwatch_metric_alarm" "freshness" {
  alarm_name          = "${local.name_prefix}-freshness-promise"
  alarm_description   = "A source change took longer than ${local.freshness.promise_minutes} min to become visible in the warehouse, or no ${local.jobs[local.freshness.measured_by].name} run published its lag (${local.freshness.metric_name}) in ${local.freshness.promise_minutes} min"
  namespace           = local.metric_namespace
  metric_name         = local.freshness.metric_name
  dimensions          = { JobName = local.jobs[local.freshness.measured_by].name }
  statistic           = "Maximum"
  period              = local.freshness.promise_minutes * 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.freshness.promise_minutes * 60
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

locals {
  job_names = [for key in keys(local.jobs) : local.jobs[key].name]

  dashboard_metric_widget = {
    for metric, spec in {
      RunsStarted   = { title = "Runs started", stat = "Sum" }
      RunsSucceeded = { title = "Runs succeeded", stat = "Sum" }
      RunsFailed    = { title = "Runs failed (logged by the job)", stat = "Sum" }
      RowsProcessed = { title = "Rows written per job", stat = "Sum" }
      ErrorLogLines = { title = "ERROR log lines", stat = "Sum" }
      } : metric => {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title   = spec.title
        region  = local.region
        stat    = spec.stat
        period  = 900
        view    = "timeSeries"
        stacked = false
        metrics = [for name in local.job_names : [local.metric_namespace, metric, "JobName", name]]
      }
    }
  }
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${local.name_prefix}-pipeline"

  dashboard_body = jsonencode({
    widgets = [
      {
        type   = "text"
        width  = 24
        height = 2
        properties = {
          markdown = "## ${local.workflow.name} (${local.name_prefix})\nJobs ${join(", ", local.job_names)}, every 15 minutes (UTC) once schedule_enabled is on. Failure events go to SNS topic `${aws_sns_topic.alerts.name}`; job logs are JSON lines in each job's output log group (/aws-glue/jobs/<job>/output)."
        }
      },
      local.dashboard_metric_widget["RunsStarted"],
      local.dashboard_metric_widget["RunsSucceeded"],
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title   = "Failure events (FAILED, TIMEOUT, STOPPED, ERROR)"
          region  = local.region
          stat    = "Sum"
          period  = 900
          view    = "timeSeries"
          metrics = [["AWS/Events", "TriggeredRules", "RuleName", aws_cloudwatch_event_rule.job_failure.name]]
        }
      },
      local.dashboard_metric_widget["RunsFailed"],
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title   = "Run duration, ms (Glue ETL elapsed time)"
          region  = local.region
          stat    = "Maximum"
          period  = 900
          view    = "timeSeries"
          metrics = [for name in local.job_names : ["Glue", "glue.driver.aggregate.elapsedTime", "JobName", name, "JobRunId", "ALL", "Type", "count"]]
        }
      },
      local.dashboard_metric_widget["RowsProcessed"],
      local.dashboard_metric_widget["ErrorLogLines"],
      {
        type   = "log"
        width  = 24
        height = 8
        properties = {
          title  = "Rows per table, latest runs"
          region = local.region
          view   = "table"
          query = join(" | ", concat(
            [for key in keys(local.jobs) : "SOURCE '${aws_cloudwatch_log_group.glue["${key}-output"].name}'"],
            [
              "fields @timestamp, job, run_id, table, rows, status, seconds",
              "filter ispresent(table) and ispresent(rows)",
              "sort @timestamp desc",
              "limit 100",
            ],
          ))
        }
      },
    ]
  })
}
