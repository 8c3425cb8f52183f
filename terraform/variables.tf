# Inputs of the deployment. Everything the pipeline itself defines (jobs, arguments, triggers, crawlers, the
# failure event pattern, the Athena queries) is read from the repository, not from variables.

# --- naming and placement -----------------------------------------------------------------------------------

variable "project" {
  type        = string
  description = "Project name: the first part of every resource name and the Project tag. The Glue job, workflow and crawler names in workflow/workflow.json must start with \"<project>-\"."
  default     = "totesys"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.project))
    error_message = "project must be 2 to 12 characters of lowercase letters, digits and hyphens, starting with a letter (it ends up in S3 bucket names, which are at most 63 characters)."
  }
}

variable "environment" {
  type        = string
  description = "Deployment environment: the second part of every resource name and the Environment tag."
  default     = "dev"

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS Region to deploy into, e.g. eu-west-2."
  default     = "eu-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like an AWS Region name, e.g. eu-west-2."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (Project, Environment and ManagedBy are always set)."
  default     = {}
}

# --- Glue jobs ----------------------------------------------------------------------------------------------

variable "glue_version" {
  type        = string
  description = "AWS Glue version of the three jobs: 5.1 (Spark 3.5.6, Python 3.11, the runtime the local stack mirrors) or 5.0 (Spark 3.5.4)."
  default     = "5.1"

  validation {
    condition     = contains(["5.0", "5.1"], var.glue_version)
    error_message = "glue_version must be 5.0 or 5.1."
  }
}

variable "glue_worker_type" {
  type        = string
  description = "Worker type of every job unless glue_job_capacity overrides it: G.1X (4 vCPU, 16 GB), G.2X, G.4X or G.8X."
  default     = "G.1X"

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.glue_worker_type)
    error_message = "glue_worker_type must be one of G.1X, G.2X, G.4X, G.8X."
  }
}

variable "glue_number_of_workers" {
  type        = number
  description = "Number of workers of every job unless glue_job_capacity overrides it (2 is Glue's minimum for Spark jobs)."
  default     = 2

  validation {
    condition     = var.glue_number_of_workers >= 2 && var.glue_number_of_workers <= 100 && floor(var.glue_number_of_workers) == var.glue_number_of_workers
    error_message = "glue_number_of_workers must be a whole number from 2 to 100."
  }
}

variable "glue_job_capacity" {
  type = map(object({
    worker_type       = string
    number_of_workers = number
  }))
  description = "Per-job capacity overrides, keyed by the job keys of workflow/workflow.json (ingest, transform, load)."
  default     = {}

  validation {
    condition     = alltrue([for c in values(var.glue_job_capacity) : contains(["G.1X", "G.2X", "G.4X", "G.8X"], c.worker_type)])
    error_message = "Every glue_job_capacity worker_type must be one of G.1X, G.2X, G.4X, G.8X."
  }

  validation {
    condition     = alltrue([for c in values(var.glue_job_capacity) : c.number_of_workers >= 2 && c.number_of_workers <= 100])
    error_message = "Every glue_job_capacity number_of_workers must be from 2 to 100."
  }
}

# --- databases and credentials ------------------------------------------------------------------------------

variable "source_database" {
  type = object({
    host              = string
    port              = optional(number, 5432)
    dbname            = optional(string, "totesys")
    security_group_id = optional(string)
  })
  description = "Where the totesys source database (RDS PostgreSQL) listens. With security_group_id set, an ingress rule lets the Glue security group reach it on its port."

  validation {
    condition     = var.source_database.port > 0 && var.source_database.port < 65536 && length(var.source_database.host) > 0
    error_message = "source_database needs a host and a port from 1 to 65535."
  }
}

variable "warehouse_database" {
  type = object({
    host              = string
    port              = optional(number, 5432)
    dbname            = optional(string, "warehouse")
    security_group_id = optional(string)
  })
  description = "Where the star-schema warehouse (PostgreSQL) listens. With security_group_id set, an ingress rule lets the Glue security group reach it on its port."

  validation {
    condition     = var.warehouse_database.port > 0 && var.warehouse_database.port < 65536 && length(var.warehouse_database.host) > 0
    error_message = "warehouse_database needs a host and a port from 1 to 65535."
  }
}

variable "database_credentials" {
  type = map(object({
    username = string
    password = string
  }))
  description = "Database logins written into the Secrets Manager secrets, keyed by source, warehouse and warehouse_readonly. Leave a key out to put that secret's value yourself (aws secretsmanager put-secret-value) and keep the password out of the Terraform state."
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for k in keys(var.database_credentials) : contains(["source", "warehouse", "warehouse_readonly"], k)])
    error_message = "database_credentials keys must be among source, warehouse, warehouse_readonly."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted secret can still be restored (0 deletes at once, otherwise 7 to 30)."
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or from 7 to 30."
  }
}

variable "secret_reader_arns" {
  type        = list(string)
  description = "IAM role or user ARNs, besides the jobs and the deploying principal, that may read the pipeline's database secrets (e.g. a break-glass administrator role)."
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_reader_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "secret_reader_arns must be IAM role or user ARNs."
  }
}

variable "warehouse_readonly_reader_arns" {
  type        = list(string)
  description = "IAM role or user ARNs of the analysts and dashboards allowed to read the read-only warehouse secret."
  default     = []

  validation {
    condition     = alltrue([for a in var.warehouse_readonly_reader_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "warehouse_readonly_reader_arns must be IAM role or user ARNs."
  }
}

# --- network ------------------------------------------------------------------------------------------------

variable "glue_subnet_id" {
  type        = string
  description = "Private subnet the Glue connections place the JDBC jobs' network interfaces in; it must reach both databases. Its VPC needs DNS hostnames and DNS support enabled."

  validation {
    condition     = can(regex("^subnet-[0-9a-f]{8,17}$", var.glue_subnet_id))
    error_message = "glue_subnet_id must be a subnet id (subnet-...)."
  }
}

variable "create_s3_gateway_endpoint" {
  type        = bool
  description = "Create an S3 gateway VPC endpoint on glue_route_table_ids. Glue refuses to start a job in a subnet that has neither an S3 endpoint nor a NAT gateway; set false when the VPC already has an S3 gateway endpoint on those route tables."
  default     = true
}

variable "glue_route_table_ids" {
  type        = list(string)
  description = "Route tables of glue_subnet_id: the S3 gateway endpoint goes on them, and with aws_api_route = nat_gateway each must route 0.0.0.0/0 to a NAT gateway (checked at plan)."
  default     = []

  validation {
    condition     = alltrue([for r in var.glue_route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "glue_route_table_ids must be route table ids (rtb-...)."
  }
}

variable "aws_api_route" {
  type        = string
  description = "How the jobs in glue_subnet_id reach the AWS APIs they call (Glue, CloudWatch Logs, CloudWatch, KMS, Secrets Manager; S3 always through a gateway endpoint): vpc_endpoints (interface endpoints, created here unless listed in existing_interface_endpoints) or nat_gateway (HTTPS out through the subnet's NAT gateway, which the plan checks in the subnet's route table)."
  default     = "vpc_endpoints"

  validation {
    condition     = contains(["vpc_endpoints", "nat_gateway"], var.aws_api_route)
    error_message = "aws_api_route must be vpc_endpoints or nat_gateway."
  }
}

variable "existing_interface_endpoints" {
  type        = list(string)
  description = "Services (glue, logs, monitoring, kms, secretsmanager) that already have an interface VPC endpoint with private DNS in the VPC of glue_subnet_id: not created here (a second private-DNS endpoint for a service fails). Their security groups must admit HTTPS from the Glue security group (output glue_security_group_id)."
  default     = []

  validation {
    condition     = alltrue([for s in var.existing_interface_endpoints : contains(["glue", "logs", "monitoring", "kms", "secretsmanager"], s)])
    error_message = "existing_interface_endpoints may contain glue, logs, monitoring, kms, secretsmanager."
  }
}

variable "schedule_enabled" {
  type        = bool
  description = "Start the 15-minute schedule and the daily crawls. Off for the first apply: the secrets' values, the source grants and the warehouse migration come after it (terraform/README.md, runbook); turn it on after the supervised first run."
  default     = false
}

variable "table_optimizers_enabled" {
  type        = bool
  description = "Give every processed-zone Iceberg table its Glue table optimizers (compaction, snapshot retention, orphan file deletion: terraform/maintenance.tf). Off for the first apply: the transformation creates the tables on its first run, and an optimizer needs its table; turn it on in the apply after that run (terraform/README.md, runbook)."
  default     = false
}

# --- storage ------------------------------------------------------------------------------------------------

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days S3 keeps an overwritten or deleted object version in the versioned buckets before it expires."
  default     = 90

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 3650
    error_message = "noncurrent_version_retention_days must be from 1 to 3650."
  }
}

variable "transient_retention_days" {
  type = object({
    temp           = optional(number, 7)
    athena_results = optional(number, 30)
    spark_logs     = optional(number, 30)
    access_logs    = optional(number, 365)
  })
  description = "Days the transient buckets keep objects: Glue temp files, Athena query results, Spark UI event logs, S3 server access logs."
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.transient_retention_days) : d >= 1 && d <= 3650])
    error_message = "Every transient_retention_days value must be from 1 to 3650."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before a KMS key scheduled for deletion is deleted (7 to 30 days)."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be from 7 to 30."
  }
}

# --- Athena -------------------------------------------------------------------------------------------------

variable "athena_bytes_scanned_cutoff_per_query" {
  type        = number
  description = "Athena cancels a query of the workgroup that scans more than this many bytes (at least 10 MB)."
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_cutoff_per_query >= 10485760
    error_message = "athena_bytes_scanned_cutoff_per_query must be at least 10485760 (10 MB)."
  }
}

# --- alerts and logs ----------------------------------------------------------------------------------------

variable "alert_email_addresses" {
  type        = list(string)
  description = "Email addresses subscribed to the pipeline alerts topic (each must confirm the subscription email)."

  validation {
    condition     = length(var.alert_email_addresses) > 0 && alltrue([for e in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_email_addresses must hold at least one email address."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the CloudWatch log groups of the jobs and crawlers, in days (a value CloudWatch Logs accepts)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "error_log_alarm_threshold" {
  type        = number
  description = "ERROR log lines of one job within 15 minutes that raise its alarm."
  default     = 1

  validation {
    condition     = var.error_log_alarm_threshold >= 1
    error_message = "error_log_alarm_threshold must be at least 1."
  }
}
