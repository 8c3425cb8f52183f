# What Glue runs, uploaded from the repository as it is: each job's script (glue_jobs/*.py, the same files the
# local runner runs) and the shared totes package as a zip, which `make package` builds reproducibly
# (scripts/package.py: sorted entries, fixed timestamps), so its hash changes only when the code does.
#
# source_hash = filemd5(...) is what makes a changed file redeploy. etag = filemd5(...) would too, but the
# artifacts bucket encrypts with SSE-KMS, and the provider documents etag as incompatible with KMS encryption
# (S3's ETag is then not the MD5 of the content, so every plan would show a change): source_hash is the
# provider's attribute for exactly this case, kept in the state only.

locals {
  library_zip = "${local.repo_root}/dist/totes.zip"

  # The wheels `make package` downloaded for the jobs' python_modules (scripts/package.py): which wheels each
  # pinned module needs, and their SHA-256. The jobs install them from this bucket with pip's --no-index,
  # since the private subnets reach no package index.
  python_modules   = jsondecode(file("${local.repo_root}/dist/python-modules.json"))
  python_wheels    = toset(keys(local.python_modules.sha256))
  wheel_key_prefix = "python-modules"
  job_wheels = {
    for key, pins in local.job_python_modules : key => sort(distinct(flatten([
      for pin in pins : lookup(local.python_modules.wheels, pin, [])
    ])))
  }
}

resource "aws_s3_object" "script" {
  for_each = local.jobs

  bucket       = aws_s3_bucket.this["artifacts"].id
  key          = "glue_jobs/${basename(each.value.script)}"
  source       = "${local.repo_root}/${each.value.script}"
  source_hash  = filemd5("${local.repo_root}/${each.value.script}")
  content_type = "text/x-python"

  # Uploaded once the bucket encrypts with the data key by default.
  depends_on = [aws_s3_bucket_server_side_encryption_configuration.this]
}

resource "aws_s3_object" "library" {
  bucket       = aws_s3_bucket.this["artifacts"].id
  key          = "lib/totes.zip"
  source       = local.library_zip
  source_hash  = filemd5(local.library_zip)
  content_type = "application/zip"

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.this]
}

resource "aws_s3_object" "wheel" {
  for_each = local.python_wheels

  bucket       = aws_s3_bucket.this["artifacts"].id
  key          = "${local.wheel_key_prefix}/${each.key}"
  source       = "${local.repo_root}/dist/python-modules/${each.key}"
  source_hash  = filemd5("${local.repo_root}/dist/python-modules/${each.key}")
  content_type = "application/zip"

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.this]
}

# Spark writes a job's event log (the Spark UI's input) only into a folder that exists, and on S3 a folder exists
# when an object names it: each job's --spark-event-logs-path prefix is created with the job (found by the
# deploy rehearsal, where S3A refused to start a driver without it).
resource "aws_s3_object" "spark_event_log_folder" {
  for_each = local.jobs

  bucket  = aws_s3_bucket.this["spark-logs"].id
  key     = "${each.value.name}/"
  content = ""

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.this]
}
