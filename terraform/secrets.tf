# Secrets Manager secrets holding the database logins, shaped as the jobs read them (totes/secrets.py):
# {"engine", "host", "port", "dbname", "username", "password"}.
#
# No secret value is in code: a value comes from the sensitive variable database_credentials, or, for a key
# left out of it, is put by an operator (README) so that the password never enters the Terraform state.
# Each secret is readable only by the roles whose job arguments name it, the deploying principal (Terraform
# refreshes the versions it manages) and the ARNs listed in the variables.

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:Rotation needs a rotation Lambda with network access to each database and a second login to swap; the logins are rotated by the database owners, who then put the new value (README).
  for_each = local.secrets

  name                    = each.value.name
  description             = each.value.description
  kms_key_id              = aws_kms_key.this["secrets"].arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "this" {
  # The keys are not secret, only the values are.
  for_each = nonsensitive(toset(keys(var.database_credentials)))

  secret_id = aws_secretsmanager_secret.this[each.key].id
  secret_string = jsonencode({
    engine   = "postgres"
    host     = local.secrets[each.key].database.host
    port     = local.secrets[each.key].database.port
    dbname   = local.secrets[each.key].database.dbname
    username = var.database_credentials[each.key].username
    password = var.database_credentials[each.key].password
  })
}

locals {
  # Who may read each secret's value besides the deploying principal and var.secret_reader_arns.
  secret_job_readers = {
    for secret in keys(local.secrets) : secret => [
      for key, secrets in local.job_secrets : aws_iam_role.glue_job[key].arn if contains(secrets, secret)
    ]
  }
  secret_readers = {
    for secret in keys(local.secrets) : secret => distinct(concat(
      local.secret_job_readers[secret],
      [data.aws_iam_session_context.current.issuer_arn],
      var.secret_reader_arns,
      secret == "warehouse_readonly" ? var.warehouse_readonly_reader_arns : [],
    ))
  }
}

data "aws_iam_policy_document" "secret" {
  for_each = local.secrets

  statement {
    sid       = "OnlyTheNamedPrincipalsReadTheValue"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.secret_readers[each.key]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "this" {
  for_each = local.secrets

  secret_arn = aws_secretsmanager_secret.this[each.key].arn
  policy     = data.aws_iam_policy_document.secret[each.key].json
}
