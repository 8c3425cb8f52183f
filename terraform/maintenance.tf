# Table maintenance of the processed zone's Iceberg tables: the Glue Data Catalog's table optimizers, one of each
# kind (compaction, snapshot retention, orphan file deletion) for every table of workflow/workflow.json's
# "maintenance", with its settings. The local stack runs the same three steps with the same settings
# (totes/maintenance.py, on the local schedule).
#
# An optimizer needs its table to exist, and the transformation creates the tables on its first run, with their
# partition spec (facts by months(created_date)) and properties (copy-on-write, which the load's changelog reads
# need). Terraform cannot create them instead: aws_glue_catalog_table's open_table_format_input takes only a
# metadata operation and a format version (no partition spec, no table properties), and every commit rewrites
# the table's metadata location and columns, which Terraform would then see as drift. So the optimizers come in
# a second apply, after the first workflow run: var.table_optimizers_enabled (terraform/README.md, runbook).

resource "aws_glue_catalog_table_optimizer" "this" {
  for_each = local.table_optimizers

  catalog_id    = local.account_id
  database_name = aws_glue_catalog_database.this["processed"].name
  table_name    = each.value.table
  type          = each.value.type

  configuration {
    role_arn = aws_iam_role.table_optimizer.arn
    enabled  = true

    dynamic "retention_configuration" {
      for_each = each.value.type == "retention" ? [local.table_optimizer_configurations.retention] : []
      content {
        iceberg_configuration {
          snapshot_retention_period_in_days = retention_configuration.value.snapshot_retention_period_in_days
          number_of_snapshots_to_retain     = retention_configuration.value.number_of_snapshots_to_retain
          clean_expired_files               = retention_configuration.value.clean_expired_files
          run_rate_in_hours                 = retention_configuration.value.run_rate_in_hours
        }
      }
    }

    dynamic "orphan_file_deletion_configuration" {
      for_each = each.value.type == "orphan_file_deletion" ? [local.table_optimizer_configurations.orphan_file_deletion] : []
      content {
        iceberg_configuration {
          orphan_file_retention_period_in_days = orphan_file_deletion_configuration.value.orphan_file_retention_period_in_days
          run_rate_in_hours                    = orphan_file_deletion_configuration.value.run_rate_in_hours
        }
      }
    }
  }

  # The role must hold its permissions before Glue accepts it for an optimizer.
  depends_on = [aws_iam_role_policy.table_optimizer]
}
