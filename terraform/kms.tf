# Customer-managed KMS keys, one per concern: data (S3 buckets, Glue bookmarks, Athena results), secrets,
# CloudWatch Logs, and alerts (the SNS topic, which EventBridge and CloudWatch alarms publish to).
#
# Each key policy lets the account administer and use the key through IAM policies (the roles get exactly the
# keys they need in iam.tf) and names the AWS services that use the key on their own behalf. The account
# statement lists the KMS actions that apply to a symmetric key instead of "kms:*", so that no policy of this
# deployment holds a wildcard action; PutKeyPolicy is among them, so the key can never be locked out.

locals {
  kms_key_account_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]

  kms_keys = {
    data    = "S3 buckets, Glue job bookmarks and Athena results of ${local.name_prefix}"
    secrets = "Secrets Manager secrets of ${local.name_prefix}"
    logs    = "CloudWatch Logs of the ${local.name_prefix} Glue jobs and crawlers"
    alerts  = "SNS alerts topic of ${local.name_prefix}"
  }
}

# In a key policy, Resource "*" means "this key": a key policy cannot name any other resource.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policy: the account statement must be able to manage the key (PutKeyPolicy, CreateGrant) or the key could be locked out; "*" is this key.
  #checkov:skip=CKV_AWS_111:Key policy: "*" is the key itself; write actions reach principals only through IAM policies that name the key.
  #checkov:skip=CKV_AWS_356:Key policy: a key policy has no other resource to name than "*" (this key).
  for_each = local.kms_keys

  statement {
    sid       = "AccountAdministersAndUsesTheKeyThroughIam"
    effect    = "Allow"
    actions   = local.kms_key_account_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # S3 server access logging writes into the SSE-KMS access-logs bucket as this service.
  dynamic "statement" {
    for_each = each.key == "data" ? [1] : []
    content {
      sid       = "S3ServerAccessLogDelivery"
      effect    = "Allow"
      actions   = ["kms:GenerateDataKey"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid    = "CloudWatchLogsEncryptsThisAccountsLogGroups"
      effect = "Allow"
      actions = [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
      ]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${local.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
      }
    }
  }

  # An encrypted SNS topic accepts events and alarm notifications only when the publishing service may use its
  # key (the AWS-managed alias/aws/sns key cannot grant that).
  dynamic "statement" {
    for_each = each.key == "alerts" ? [1] : []
    content {
      sid       = "EventBridgeAndCloudWatchAlarmsPublishToTheEncryptedTopic"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  for_each = local.kms_keys

  description             = each.value
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms[each.key].json
}

resource "aws_kms_alias" "this" {
  for_each = local.kms_keys

  name          = "alias/${local.name_prefix}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}
