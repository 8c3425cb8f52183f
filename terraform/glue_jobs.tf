# The Glue jobs, generated from workflow/workflow.json: name, script, description, arguments, retries and
# timeout come from there. Terraform adds only what is AWS-specific: role, Glue version, capacity, the
# connection's VPC placement, the shared library, temp dir, metrics, Spark UI and encryption.

resource "aws_glue_security_configuration" "this" {
  name = local.glue_security_configuration_name

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = aws_kms_key.this["logs"].arn
    }

    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = aws_kms_key.this["data"].arn
    }

    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = aws_kms_key.this["data"].arn
    }
  }
}

# The connection gives a job its place in the VPC (subnet, security group). The jobs read their logins from
# Secrets Manager themselves (--source-secret-id / --warehouse-secret-id); SECRET_ID lets Glue's own
# "test connection" and any crawler of the database use the same secret.
resource "aws_glue_connection" "this" {
  for_each = local.connections

  name            = "${local.name_prefix}-${each.key}"
  description     = "JDBC to the ${each.key} database (PostgreSQL); credentials in the ${local.secrets[each.value.secret].name} secret"
  connection_type = "JDBC"

  connection_properties = {
    JDBC_CONNECTION_URL = "jdbc:postgresql://${each.value.database.host}:${each.value.database.port}/${each.value.database.dbname}"
    SECRET_ID           = aws_secretsmanager_secret.this[each.value.secret].name
  }

  physical_connection_requirements {
    # Implied by the subnet, but the API requires it.
    availability_zone      = data.aws_subnet.glue.availability_zone
    subnet_id              = data.aws_subnet.glue.id
    security_group_id_list = [aws_security_group.glue.id]
  }
}

resource "aws_glue_job" "this" {
  for_each = local.jobs

  name              = each.value.name
  description       = each.value.description
  role_arn          = aws_iam_role.glue_job[each.key].arn
  glue_version      = var.glue_version
  worker_type       = local.job_capacity[each.key].worker_type
  number_of_workers = local.job_capacity[each.key].number_of_workers
  max_retries       = each.value.max_retries
  timeout           = each.value.timeout_minutes
  execution_class   = "STANDARD"

  security_configuration = aws_glue_security_configuration.this.name
  connections            = local.job_connections[each.key] == null ? [] : [aws_glue_connection.this[local.job_connections[each.key]].name]

  command {
    name            = "glueetl"
    script_location = "s3://${aws_s3_object.script[each.key].bucket}/${aws_s3_object.script[each.key].key}"
    # Python 3.11 on Glue 5.x.
    python_version = "3"
  }

  # Job bookmarks do not work with concurrent runs of one job.
  execution_property {
    max_concurrent_runs = 1
  }

  default_arguments = merge(each.value.arguments, {
    "--job-language"                 = "python"
    "--extra-py-files"               = "s3://${aws_s3_object.library.bucket}/${aws_s3_object.library.key}"
    "--TempDir"                      = "s3://${local.bucket_names["temp"]}/${each.value.name}/"
    "--enable-metrics"               = "true"
    "--enable-observability-metrics" = "true"
    "--enable-job-insights"          = "true"
    "--enable-spark-ui"              = "true"
    "--spark-event-logs-path"        = "s3://${aws_s3_object.spark_event_log_folder[each.key].bucket}/${aws_s3_object.spark_event_log_folder[each.key].key}"
    # Glue 5.x: the job's log groups are <prefix>/output (stdout, stderr: the JSON lines) and <prefix>/error.
    "--custom-logGroup-prefix" = local.job_log_group_prefixes[each.key]
    # Glue 5.1's Iceberg (1.10.0) for the processed zone's tables; its SQL extensions (MERGE, CALL) must be on
    # the session from its start (the catalog itself the jobs set at run time: totes/iceberg.py).
    "--datalake-formats" = "iceberg"
    # Glue 5.x reads s3:// through S3A, which otherwise assumes us-east-2 for its endpoint region. Glue takes
    # one --conf key: further settings follow inside its value.
    "--conf" = "spark.hadoop.fs.s3a.endpoint.region=${local.region} --conf spark.sql.extensions=${local.iceberg_sql_extensions}"
    }, each.key != local.freshness.measured_by ? {} : {
    # Where the job publishes the freshness lag it measured (the alarm in monitoring.tf reads the same).
    "--freshness-metric-namespace" = local.metric_namespace
    "--freshness-metric-name"      = local.freshness.metric_name
    }, length(local.job_wheels[each.key]) == 0 ? {} : {
    # The job's wheels from the artifacts bucket, and nothing from a package index (none is reachable).
    "--additional-python-modules"       = join(",", [for wheel in local.job_wheels[each.key] : "s3://${aws_s3_object.wheel[wheel].bucket}/${aws_s3_object.wheel[wheel].key}"])
    "--python-modules-installer-option" = "--no-index"
    }, !contains(keys(local.quality_jobs), each.key) ? {} : {
    # Where and under which names the job publishes its data-quality report (the quarantine alarm reads them).
    "--quality-metric-namespace" = local.metric_namespace
    "--quality-metric-names"     = jsonencode(local.quality.metric_names)
  })

  lifecycle {
    precondition {
      condition     = startswith(each.value.name, "${local.name_prefix}-")
      error_message = "Glue job ${each.value.name} (workflow/workflow.json) must start with \"${local.name_prefix}-\" (project and environment), or a second environment's job takes its name."
    }
    precondition {
      condition     = length(local.job_zones[each.key]) > 0
      error_message = "Glue job ${each.value.name} names no zone argument (--ingestion-zone / --processed-zone): its S3 access cannot be derived."
    }
    precondition {
      condition     = alltrue([for pin in local.job_python_modules[each.key] : contains(keys(local.python_modules.wheels), pin)])
      error_message = "dist/python-modules.json has no wheels for the python_modules of Glue job ${each.value.name} at the versions requirements.txt pins: run `make package`."
    }
    precondition {
      condition     = length(setsubtract(keys(var.glue_job_capacity), keys(local.jobs))) == 0
      error_message = "glue_job_capacity has keys that are not jobs of workflow/workflow.json: ${join(", ", setsubtract(keys(var.glue_job_capacity), keys(local.jobs)))}."
    }
  }
}
