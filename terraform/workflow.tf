# The Glue workflow and its triggers, generated from workflow/workflow.json: a SCHEDULED trigger (UTC cron)
# starts the ingestion, CONDITIONAL triggers chain the jobs on the states the definition names.

resource "aws_glue_workflow" "this" {
  name        = local.workflow.name
  description = "totesys OLTP -> ingestion zone -> star schema -> warehouse, every 15 minutes (${local.name_prefix})"

  # A run still in progress when the next schedule fires is not doubled up.
  max_concurrent_runs = local.workflow.max_concurrent_runs
}

resource "aws_glue_trigger" "this" {
  for_each = local.triggers

  name          = "${local.workflow.name}-${each.key}"
  description   = "${each.value.type} trigger ${each.key} of the ${local.workflow.name} workflow"
  workflow_name = aws_glue_workflow.this.name
  type          = each.value.type
  schedule      = each.value.type == "SCHEDULED" ? each.value.schedule : null

  # The schedule starts only when asked for (var.schedule_enabled, after the runbook's supervised first run):
  # a schedule that starts on creation fails every 15 minutes until the secrets hold values, the source grants
  # exist and the warehouse is migrated. The conditional triggers are always active: they fire only inside a
  # workflow run, so `aws glue start-workflow-run` runs the whole chain while the schedule is off. ON_DEMAND
  # triggers cannot start on creation.
  enabled           = each.value.type == "SCHEDULED" ? var.schedule_enabled : true
  start_on_creation = each.value.type == "ON_DEMAND" ? null : (each.value.type == "SCHEDULED" ? var.schedule_enabled : true)

  dynamic "actions" {
    for_each = each.value.actions
    content {
      job_name = aws_glue_job.this[actions.value.job].name
    }
  }

  # Not before everything a job run needs exists: a trigger that fires while a role policy, a security group
  # rule, an endpoint or a log group is still being created makes a failed run, or a run whose logs go nowhere.
  depends_on = [
    aws_iam_role_policy.glue_job,
    aws_vpc_security_group_egress_rule.glue_self,
    aws_vpc_security_group_ingress_rule.glue_self,
    aws_vpc_security_group_egress_rule.glue_s3,
    aws_vpc_security_group_egress_rule.glue_endpoints,
    aws_vpc_security_group_egress_rule.glue_existing_endpoints,
    aws_vpc_security_group_egress_rule.glue_https,
    aws_vpc_security_group_egress_rule.glue_database,
    aws_vpc_security_group_ingress_rule.database_from_glue,
    aws_vpc_security_group_ingress_rule.endpoints_from_glue,
    aws_vpc_endpoint.s3,
    aws_vpc_endpoint.interface,
    aws_cloudwatch_log_group.glue,
    aws_secretsmanager_secret_policy.this,
    aws_s3_bucket_policy.this,
    aws_glue_catalog_database.this,
  ]

  dynamic "predicate" {
    for_each = each.value.type == "CONDITIONAL" ? [each.value.predicate] : []
    content {
      logical = predicate.value.logical

      dynamic "conditions" {
        for_each = predicate.value.conditions
        content {
          job_name         = aws_glue_job.this[conditions.value.job].name
          state            = conditions.value.state
          logical_operator = "EQUALS"
        }
      }
    }
  }
}
