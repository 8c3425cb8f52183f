output "bucket_names" {
  description = "S3 bucket of each purpose: ingestion and processed zones, artifacts (scripts, library), temp, athena-results, spark-logs, access-logs."
  value       = { for key, bucket in aws_s3_bucket.this : key => bucket.bucket }
}

output "zone_uris" {
  description = "The zone URIs the jobs receive as --ingestion-zone and --processed-zone."
  value       = local.zone_uris
}

output "workflow_name" {
  description = "Glue workflow that runs ingest -> transform -> load every 15 minutes (start one now: aws glue start-workflow-run --name <this>)."
  value       = aws_glue_workflow.this.name
}

output "glue_job_names" {
  description = "Glue job name of each job key of workflow/workflow.json."
  value       = { for key, job in aws_glue_job.this : key => job.name }
}

output "glue_crawler_names" {
  description = "Glue crawler of each zone."
  value       = { for key, crawler in aws_glue_crawler.this : key => crawler.name }
}

output "glue_connection_names" {
  description = "Glue JDBC connection of each database (VPC placement of the jobs that use it)."
  value       = { for key, connection in aws_glue_connection.this : key => connection.name }
}

output "catalog_database_names" {
  description = "Data Catalog database of each zone; Athena queries the processed one."
  value       = { for key, database in aws_glue_catalog_database.this : key => database.name }
}

output "athena_workgroup" {
  description = "Athena workgroup with the enforced, encrypted result location and the named queries of sql/athena/."
  value       = aws_athena_workgroup.this.name
}

output "athena_named_queries" {
  description = "Named query id of each sql/athena/*.sql file."
  value       = { for key, query in aws_athena_named_query.this : query.name => query.id }
}

output "secret_names" {
  description = "Secrets Manager secret of each login; put a value not given in database_credentials with `aws secretsmanager put-secret-value --secret-id <name> --secret-string file://secret.json`."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.name }
}

output "alerts_topic_arn" {
  description = "SNS topic of the job failure events and alarms."
  value       = aws_sns_topic.alerts.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the jobs: runs, failures, durations, rows."
  value       = aws_cloudwatch_dashboard.pipeline.dashboard_name
}

output "glue_job_log_groups" {
  description = "CloudWatch log groups of each job: output (stdout and stderr, the JSON log lines) and error (Spark and Glue)."
  value       = local.job_log_groups
}

output "glue_job_role_arns" {
  description = "IAM role of each Glue job."
  value       = { for key, role in aws_iam_role.glue_job : key => role.arn }
}

output "deployer_pass_role_policy_json" {
  description = "IAM policy the principal running terraform apply needs besides its resource permissions: iam:PassRole on the job and crawler roles, to Glue only."
  value       = data.aws_iam_policy_document.deployer_pass_role.json
}

output "glue_security_group_id" {
  description = "Security group of the Glue jobs' network interfaces: the databases and any existing interface endpoints (existing_interface_endpoints) must admit it."
  value       = aws_security_group.glue.id
}

output "schedule_enabled" {
  description = "Whether the 15-minute schedule and the daily crawls are on (var.schedule_enabled); the runbook turns it on after the supervised first run."
  value       = var.schedule_enabled
}

output "table_optimizer_role_arn" {
  description = "Role of the processed tables' Glue table optimizers (terraform/maintenance.tf); they exist once var.table_optimizers_enabled is on."
  value       = aws_iam_role.table_optimizer.arn
}
