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
  enabled       = true

  # SCHEDULED and CONDITIONAL triggers start out activated; ON_DEMAND ones cannot be.
  start_on_creation = each.value.type == "ON_DEMAND" ? null : true

  dynamic "actions" {
    for_each = each.value.actions
    content {
      job_name = aws_glue_job.this[actions.value.job].name
    }
  }

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
