# Least privilege: one role per Glue job, one for the crawlers, one for the processed tables' optimizers. No
# managed policy (AWSGlueServiceRole holds glue:* and S3 on every aws-glue-* bucket); each role gets exactly
# what its job does, derived from the job's arguments in workflow/workflow.json (locals.tf): the zones it names
# (reading all, writing only its output zone), the secrets it names, the catalog database it names, and its
# connection, plus its own script, the library, its own temp and Spark-log prefixes, the KMS keys of those, and
# its own log groups.
#
# Resource "*" appears only where the action has no resource to scope to: cloudwatch:PutMetricData
# (narrowed by namespace) and the ec2:Describe* calls Glue makes to set up a connection's network interfaces.

locals {
  glue_arn_prefix = "arn:${local.partition}:glue:${local.region}:${local.account_id}"
  logs_arn_prefix = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:"
  ec2_arn_prefix  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"

  # Where Glue's table optimizers log their runs, one group per kind.
  table_optimizer_log_groups = ["/aws-glue/iceberg-compaction/logs", "/aws-glue/iceberg-retention/logs", "/aws-glue/iceberg-orphan-file-deletion/logs"]

  catalog_table_actions = [
    "glue:BatchCreatePartition",
    "glue:CreateTable",
    "glue:GetDatabase",
    "glue:GetPartitions",
    "glue:GetTable",
    "glue:GetTables",
    "glue:UpdateTable",
  ]
}

data "aws_iam_policy_document" "glue_assume" {
  statement {
    sid     = "GlueAssumesTheRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
  }
}

# --- job roles ----------------------------------------------------------------------------------------------

resource "aws_iam_role" "glue_job" {
  for_each = local.jobs

  name                 = local.job_role_names[each.key]
  description          = "Glue job ${each.value.name}: ${each.value.description}"
  assume_role_policy   = data.aws_iam_policy_document.glue_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "glue_job" {
  for_each = local.jobs

  statement {
    sid     = "ReadOwnScriptTheLibraryAndOwnWheels"
    effect  = "Allow"
    actions = ["s3:GetObject"]
    resources = concat(
      [
        "${local.bucket_arns["artifacts"]}/${aws_s3_object.script[each.key].key}",
        "${local.bucket_arns["artifacts"]}/${aws_s3_object.library.key}",
      ],
      [for wheel in local.job_wheels[each.key] : "${local.bucket_arns["artifacts"]}/${aws_s3_object.wheel[wheel].key}"],
    )
  }

  statement {
    sid     = "ListOwnBuckets"
    effect  = "Allow"
    actions = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = concat(
      [for zone in local.job_zones[each.key] : local.bucket_arns[zone]],
      [local.bucket_arns["temp"], local.bucket_arns["spark-logs"]],
    )
  }

  statement {
    sid       = "ReadTheZonesItsArgumentsName"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [for zone in local.job_zones[each.key] : "${local.bucket_arns[zone]}/*"]
  }

  # Parquet files, manifests (_manifests/) and the bookmark (_state/), as plain objects; Spark's committer
  # deletes its temporary files and aborts failed multipart uploads.
  statement {
    sid       = "WriteItsOutputZone"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"]
    resources = ["${local.bucket_arns[local.job_output_zone[each.key]]}/*"]
  }

  statement {
    sid     = "UseOwnTempAndSparkEventLogPrefixes"
    effect  = "Allow"
    actions = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = [
      "${local.bucket_arns["temp"]}/${each.value.name}/*",
      "${local.bucket_arns["spark-logs"]}/${each.value.name}/*",
    ]
  }

  # SSE-KMS objects in every bucket above (Decrypt, GenerateDataKey), and Glue's job bookmark, which the
  # security configuration encrypts client-side (CSE-KMS) with this key: job.commit() encrypts the state,
  # job.init() decrypts it, and AWS documents kms:Encrypt and kms:Decrypt for jobs with encrypted bookmarks.
  # Without Encrypt, job.commit() fails after the project's own bookmark has moved (README, "The bookmark
  # guarantee": project state first, then job.commit()).
  statement {
    sid       = "UseTheDataKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this["data"].arn]
  }

  dynamic "statement" {
    for_each = length(local.job_secrets[each.key]) > 0 ? [1] : []
    content {
      sid       = "ReadTheSecretsItsArgumentsName"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [for secret in local.job_secrets[each.key] : aws_secretsmanager_secret.this[secret].arn]
    }
  }

  dynamic "statement" {
    for_each = length(local.job_secrets[each.key]) > 0 ? [1] : []
    content {
      sid       = "DecryptSecretsThroughSecretsManager"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this["secrets"].arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  # The jobs register each committed ingestion run's tables and partitions themselves (totes/catalog_sync.py),
  # and Iceberg's Glue catalog creates, reads and commits the processed zone's tables (GetDatabase, GetTable,
  # GetTables, CreateTable, UpdateTable: totes/iceberg.py).
  dynamic "statement" {
    for_each = length(local.job_databases[each.key]) > 0 ? [1] : []
    content {
      sid     = "RegisterRunsInItsCatalogDatabase"
      effect  = "Allow"
      actions = local.catalog_table_actions
      resources = concat(
        ["${local.glue_arn_prefix}:catalog"],
        [for db in local.job_databases[each.key] : "${local.glue_arn_prefix}:database/${local.catalog_database_names[db]}"],
        [for db in local.job_databases[each.key] : "${local.glue_arn_prefix}:table/${local.catalog_database_names[db]}/*"],
      )
    }
  }

  dynamic "statement" {
    for_each = local.job_connections[each.key] == null ? [] : [local.job_connections[each.key]]
    content {
      sid     = "ReadItsConnection"
      effect  = "Allow"
      actions = ["glue:GetConnection"]
      resources = [
        "${local.glue_arn_prefix}:catalog",
        "${local.glue_arn_prefix}:connection/${local.name_prefix}-${statement.value}",
      ]
    }
  }

  statement {
    sid    = "WriteOwnLogGroups"
    effect = "Allow"
    actions = [
      "logs:AssociateKmsKey",
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = flatten([
      for group in values(local.job_log_groups[each.key]) :
      ["${local.logs_arn_prefix}${group}", "${local.logs_arn_prefix}${group}:*"]
    ])
  }

  # Glue's own job metrics, and for a job that publishes the data-quality report or the freshness lag (the
  # alarms of monitoring.tf watch both), the pipeline's namespace.
  statement {
    sid       = "PublishGlueJobMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = concat(["Glue"], contains(keys(local.quality_jobs), each.key) || each.key == local.freshness.measured_by ? [local.metric_namespace] : [])
    }
  }

  # A job with a connection gets network interfaces in the connection's subnet; Glue describes the VPC first.
  dynamic "statement" {
    for_each = local.job_connections[each.key] == null ? [] : [1]
    content {
      sid    = "DescribeTheConnectionNetwork"
      effect = "Allow"
      actions = [
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcs",
      ]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.job_connections[each.key] == null ? [] : [1]
    content {
      sid     = "CreateNetworkInterfacesInTheGlueSubnet"
      effect  = "Allow"
      actions = ["ec2:CreateNetworkInterface"]
      resources = [
        data.aws_subnet.glue.arn,
        aws_security_group.glue.arn,
        "${local.ec2_arn_prefix}:network-interface/*",
      ]
    }
  }

  dynamic "statement" {
    for_each = local.job_connections[each.key] == null ? [] : [1]
    content {
      sid       = "DeleteNetworkInterfaces"
      effect    = "Allow"
      actions   = ["ec2:DeleteNetworkInterface"]
      resources = ["${local.ec2_arn_prefix}:network-interface/*"]
    }
  }

  dynamic "statement" {
    for_each = local.job_connections[each.key] == null ? [] : [1]
    content {
      sid       = "TagNetworkInterfacesAsGlueDoes"
      effect    = "Allow"
      actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
      resources = ["${local.ec2_arn_prefix}:network-interface/*"]

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = ["aws-glue-service-resource"]
      }
    }
  }
}

resource "aws_iam_role_policy" "glue_job" {
  for_each = local.jobs

  name   = "${local.job_role_names[each.key]}-least-privilege"
  role   = aws_iam_role.glue_job[each.key].id
  policy = data.aws_iam_policy_document.glue_job[each.key].json
}

# --- crawler role -------------------------------------------------------------------------------------------

resource "aws_iam_role" "glue_crawler" {
  name                 = local.crawler_role_name
  description          = "Glue crawlers of the ${local.name_prefix} zones"
  assume_role_policy   = data.aws_iam_policy_document.glue_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "glue_crawler" {
  statement {
    sid       = "ListTheZones"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [for zone in local.crawled_zones : local.bucket_arns[zone]]
  }

  statement {
    sid       = "ReadTheZones"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [for zone in local.crawled_zones : "${local.bucket_arns[zone]}/*"]
  }

  statement {
    sid       = "DecryptTheZones"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this["data"].arn]
  }

  # Schema changes are only logged (catalog.tf), but new tables and partitions are always added.
  statement {
    sid    = "CatalogTheZones"
    effect = "Allow"
    actions = concat(local.catalog_table_actions, [
      "glue:BatchGetPartition",
      "glue:CreatePartition",
      "glue:GetPartition",
    ])
    resources = concat(
      ["${local.glue_arn_prefix}:catalog"],
      [for zone in local.crawled_zones : "${local.glue_arn_prefix}:database/${local.catalog_database_names[zone]}"],
      [for zone in local.crawled_zones : "${local.glue_arn_prefix}:table/${local.catalog_database_names[zone]}/*"],
    )
  }

  statement {
    sid    = "WriteTheCrawlerLogGroup"
    effect = "Allow"
    actions = [
      "logs:AssociateKmsKey",
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = [
      "${local.logs_arn_prefix}${local.crawler_log_group}",
      "${local.logs_arn_prefix}${local.crawler_log_group}:*",
    ]
  }
}

resource "aws_iam_role_policy" "glue_crawler" {
  name   = "${local.crawler_role_name}-least-privilege"
  role   = aws_iam_role.glue_crawler.id
  policy = data.aws_iam_policy_document.glue_crawler.json
}

# --- table optimizer role -----------------------------------------------------------------------------------

resource "aws_iam_role" "table_optimizer" {
  name                 = local.table_optimizer_role_name
  description          = "Glue table optimizers of the ${local.name_prefix} processed zone's Iceberg tables"
  assume_role_policy   = data.aws_iam_policy_document.glue_assume.json
  max_session_duration = 3600
}

# What AWS documents for the optimizers ("Table optimization prerequisites"), on the processed zone only.
# Their optimizers are in maintenance.tf.
data "aws_iam_policy_document" "table_optimizer" {
  statement {
    sid       = "ListTheProcessedZone"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [local.bucket_arns["processed"]]
  }

  # Compaction writes data files and metadata; expiry and orphan deletion delete files.
  statement {
    sid       = "RewriteTheProcessedTablesFiles"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arns["processed"]}/*"]
  }

  statement {
    sid       = "UseTheDataKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this["data"].arn]
  }

  # Each optimizer run commits a new metadata location to its table.
  statement {
    sid     = "CommitToTheProcessedTables"
    effect  = "Allow"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
    resources = concat(
      ["${local.glue_arn_prefix}:catalog", "${local.glue_arn_prefix}:database/${local.catalog_database_names["processed"]}"],
      ["${local.glue_arn_prefix}:table/${local.catalog_database_names["processed"]}/*"],
    )
  }

  statement {
    sid     = "WriteTheOptimizerLogGroups"
    effect  = "Allow"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = flatten([
      for group in local.table_optimizer_log_groups : ["${local.logs_arn_prefix}${group}", "${local.logs_arn_prefix}${group}:*"]
    ])
  }
}

resource "aws_iam_role_policy" "table_optimizer" {
  name   = "${local.table_optimizer_role_name}-least-privilege"
  role   = aws_iam_role.table_optimizer.id
  policy = data.aws_iam_policy_document.table_optimizer.json
}

# --- what the deployer needs --------------------------------------------------------------------------------

# Creating or updating a job, crawler or table optimizer hands it a role: the principal running `terraform
# apply` needs iam:PassRole on exactly these roles, and only towards Glue. Output as deployer_pass_role_policy_json.
data "aws_iam_policy_document" "deployer_pass_role" {
  statement {
    sid     = "PassThePipelineRolesToGlue"
    effect  = "Allow"
    actions = ["iam:PassRole"]
    resources = concat(
      [for role in aws_iam_role.glue_job : role.arn],
      [aws_iam_role.glue_crawler.arn, aws_iam_role.table_optimizer.arn],
    )

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["glue.amazonaws.com"]
    }
  }
}
