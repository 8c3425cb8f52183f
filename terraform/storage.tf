# The S3 buckets: both data zones, Glue scripts and artifacts, Glue temp, Athena results, Spark UI event logs,
# and the server access logs of all of them. Every bucket is versioned, SSE-KMS encrypted with the data key,
# closed to the public, TLS-only, owner-enforced (no ACLs), and has a lifecycle: superseded versions expire,
# and in the transient buckets the objects themselves do.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Single-Region deployment: versioning already guards against deletes and overwrites; replicating every bucket to a second Region doubles storage and KMS costs, and is added when a Regional recovery objective asks for it.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications: the Glue workflow's schedule and triggers drive the pipeline.
  for_each = local.buckets

  bucket = local.bucket_names[each.key]

  # Data must be emptied deliberately before a bucket can go.
  force_destroy = false

  tags = {
    Name    = local.bucket_names[each.key]
    Purpose = each.value.purpose
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this["data"].arn
    }
    # One KMS call per bucket and data key period instead of per object: cheaper, fewer throttles.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = each.value.expiration_days == null ? "expire-superseded-versions" : "expire-transient-objects"
    status = "Enabled"

    # Every object of the bucket: an empty prefix (an empty filter block is deprecated in the provider).
    filter {
      prefix = ""
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    # Transient buckets expire their objects; the others only clean up delete markers left alone.
    expiration {
      days                         = each.value.expiration_days
      expired_object_delete_marker = each.value.expiration_days == null ? true : null
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  for_each = local.logged_buckets

  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.this["access-logs"].id
  target_prefix = "${each.key}/"

  target_object_key_format {
    partitioned_prefix {
      partition_date_source = "EventTime"
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid     = "DenyRequestsWithoutTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      local.bucket_arns[each.key],
      "${local.bucket_arns[each.key]}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "access-logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogDelivery"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${local.bucket_arns[each.key]}/*"]

      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }

      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [for key in keys(local.logged_buckets) : local.bucket_arns[key]]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
