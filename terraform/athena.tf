# The Athena workgroup analysts use on the processed zone: its result location, encryption and scan limit are
# enforced (clients cannot override them), and the named queries are the shared sql/athena/*.sql files.

resource "aws_athena_workgroup" "this" {
  name        = local.name_prefix
  description = "Queries on the ${local.name_prefix} star schema (Data Catalog database ${local.catalog_database_names["processed"]})"
  state       = "ENABLED"

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.this["athena-results"].bucket}/results/"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.this["data"].arn
      }
    }
  }
}

resource "aws_athena_named_query" "this" {
  for_each = local.athena_query_files

  name      = trimsuffix(each.value, ".sql")
  workgroup = aws_athena_workgroup.this.id
  database  = aws_glue_catalog_database.this["processed"].name
  query     = file("${local.repo_root}/sql/athena/${each.value}")
  # The file's first line is a "-- what it answers" comment.
  description = substr(trimspace(trimprefix(split("\n", file("${local.repo_root}/sql/athena/${each.value}"))[0], "--")), 0, 1024)
}
