# Naming, tags, and the pipeline definition read from the repository.
#
# Everything below that feeds for_each (the workflow definition, bucket names, secret names) is built from
# variables and data sources only, never from resource attributes: its keys must be known at plan time.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

# The deploying principal as an IAM role or user ARN (not an STS session ARN): Terraform itself reads the
# secret versions it manages, so the secrets' resource policies must let it.
data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

locals {
  repo_root = "${path.module}/.."

  # The one naming prefix (S3 bucket names also carry the account and Region, being global).
  name_prefix    = "${var.project}-${var.environment}"
  catalog_prefix = replace(local.name_prefix, "-", "_")

  # The one tag set (the provider's default_tags applies it to every taggable resource).
  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  # --- storage --------------------------------------------------------------------------------------------

  # expiration_days = null: the bucket keeps its objects (only superseded versions expire). Every bucket but
  # the access-logs one sends its S3 server access logs to the access-logs one.
  logged_buckets = {
    ingestion      = { purpose = "Ingestion zone: raw totesys tables as parquet, run manifests, bookmarks", expiration_days = null }
    processed      = { purpose = "Processed zone: the star schema as partitioned parquet", expiration_days = null }
    artifacts      = { purpose = "Glue job scripts and the shared totes library", expiration_days = null }
    temp           = { purpose = "Glue --TempDir scratch space", expiration_days = var.transient_retention_days.temp }
    athena-results = { purpose = "Athena query results of the workgroup", expiration_days = var.transient_retention_days.athena_results }
    spark-logs     = { purpose = "Spark UI event logs of the Glue jobs", expiration_days = var.transient_retention_days.spark_logs }
  }
  buckets = merge(local.logged_buckets, {
    access-logs = { purpose = "S3 server access logs of the other buckets", expiration_days = var.transient_retention_days.access_logs }
  })
  bucket_names = { for key, bucket in local.buckets : key => "${local.name_prefix}-${key}-${local.account_id}-${local.region}" }
  bucket_arns  = { for key, name in local.bucket_names : key => "arn:${local.partition}:s3:::${name}" }

  # Zones in the order data flows through them: a job writes only to the last zone it names (its output) and
  # reads the ones before it, e.g. transform reads ingestion and writes processed.
  zone_order = ["ingestion", "processed"]
  zone_uris  = { for zone in local.zone_order : zone => "s3://${local.bucket_names[zone]}" }

  # --- secrets --------------------------------------------------------------------------------------------

  secrets = {
    source             = { name = "${local.name_prefix}/source-db", database = var.source_database, description = "totesys source database, read-only login of the ingestion job" }
    warehouse          = { name = "${local.name_prefix}/warehouse-db", database = var.warehouse_database, description = "Warehouse login of the load job" }
    warehouse_readonly = { name = "${local.name_prefix}/warehouse-readonly", database = var.warehouse_database, description = "Read-only warehouse login of dashboards and analysts" }
  }
  # Which job argument carries which secret's name: a job reads exactly the secrets its arguments name.
  secret_arguments = {
    source    = "--source-secret-id"
    warehouse = "--warehouse-secret-id"
  }

  # --- the pipeline definition ----------------------------------------------------------------------------

  catalog_database_names = {
    ingestion = "${local.catalog_prefix}_ingestion"
    processed = "${local.catalog_prefix}_processed"
  }

  # ${name_prefix} carries the environment into every job, workflow and crawler name, so that two
  # environments in one account never share one (the local runner fills in "totesys").
  workflow = jsondecode(templatefile("${local.repo_root}/workflow/workflow.json", {
    name_prefix         = local.name_prefix
    ingestion_zone_uri  = local.zone_uris["ingestion"]
    processed_zone_uri  = local.zone_uris["processed"]
    source_secret_id    = local.secrets["source"].name
    warehouse_secret_id = local.secrets["warehouse"].name
    ingestion_database  = local.catalog_database_names["ingestion"]
    processed_database  = local.catalog_database_names["processed"]
    # The processed zone's Iceberg tables are in the Glue Data Catalog (the local stack: a JDBC catalog).
    processed_catalog = "glue"
  }))

  # totes/spark_session.py ICEBERG_SQL_EXTENSIONS (a test keeps the two equal).
  iceberg_sql_extensions = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

  # Table maintenance of the processed zone's Iceberg tables (maintenance.tf): one Glue table optimizer of each
  # kind per table of the definition, once var.table_optimizers_enabled is on.
  maintenance = local.workflow.maintenance

  # The optimizers' settings, from the definition; compaction has none in this provider version (Glue's
  # bin-packing, as the local rewrite_data_files).
  table_optimizer_configurations = {
    compaction = {}
    retention = {
      snapshot_retention_period_in_days = local.maintenance.snapshot_retention_days
      number_of_snapshots_to_retain     = local.maintenance.snapshots_to_retain
      clean_expired_files               = true
      run_rate_in_hours                 = local.maintenance.every_hours
    }
    orphan_file_deletion = {
      orphan_file_retention_period_in_days = local.maintenance.orphan_file_retention_days
      run_rate_in_hours                    = local.maintenance.every_hours
    }
  }

  table_optimizers = var.table_optimizers_enabled ? {
    for pair in setproduct(local.maintenance.tables, keys(local.table_optimizer_configurations)) :
    "${pair[0]}/${pair[1]}" => { table = pair[0], type = pair[1] }
  } : {}

  jobs     = local.workflow.jobs
  triggers = { for trigger in local.workflow.triggers : trigger.name => trigger }
  crawlers = local.workflow.catalog.crawlers
  # The zones the crawlers read (their catalog databases are named after them): the crawler role reaches these
  # only. The processed zone has none: its Iceberg catalog registers its tables (workflow.json).
  crawled_zones = distinct([for crawler in values(local.crawlers) : crawler.database])

  # The freshness promise and its metric (monitoring.tf alarms on it; the job measured_by publishes it).
  freshness = local.workflow.freshness

  # The Glue connection each job names ("source" or "warehouse"), if any.
  job_connections = { for key, job in local.jobs : key => try(job.connection, null) }
  connections = {
    for name in distinct(compact(values(local.job_connections))) : name => {
      database = local.secrets[name].database
      secret   = name
    }
  }

  # What each job may touch, derived from its arguments in the workflow definition.
  job_zones = {
    for key, job in local.jobs : key => [for zone in local.zone_order : zone if contains(keys(job.arguments), "--${zone}-zone")]
  }
  job_output_zone = { for key, zones in local.job_zones : key => zones[length(zones) - 1] }
  job_secrets = {
    for key, job in local.jobs : key => [for secret, argument in local.secret_arguments : secret if contains(keys(job.arguments), argument)]
  }
  job_databases = {
    for key, job in local.jobs : key => [for db, name in local.catalog_database_names : db if try(job.arguments["--catalog-database"], "") == name]
  }

  # The AWS APIs a job calls from inside the VPC (only the jobs with a connection run there): Glue (the job
  # bookmark of job.init/job.commit, the catalog registrations), CloudWatch Logs and CloudWatch (Glue sends the
  # job's logs and metrics), KMS (the client-side encrypted bookmark) and, for the jobs that read a login,
  # Secrets Manager. S3 goes through the gateway endpoint.
  vpc_job_api_services = {
    for key, job in local.jobs : key => concat(["glue", "kms", "logs", "monitoring"], length(local.job_secrets[key]) > 0 ? ["secretsmanager"] : [])
    if local.job_connections[key] != null
  }
  vpc_api_services = sort(distinct(flatten(values(local.vpc_job_api_services))))

  job_capacity = {
    for key, job in local.jobs : key => lookup(var.glue_job_capacity, key, {
      worker_type       = var.glue_worker_type
      number_of_workers = var.glue_number_of_workers
    })
  }

  # The third-party modules each job imports that the Glue runtime lacks (workflow.json), pinned once in
  # requirements.txt; `make package` downloads exactly those wheels (artifacts.tf uploads them).
  requirement_pins = {
    for line in split("\n", file("${local.repo_root}/requirements.txt")) :
    lower(split("==", trimspace(line))[0]) => trimspace(line)
    if length(regexall("^[A-Za-z0-9_.-]+(\\[[A-Za-z0-9_,-]+\\])?==", trimspace(line))) > 0
  }
  job_python_modules = { for key, job in local.jobs : key => [for module in try(job.python_modules, []) : local.requirement_pins[lower(module)]] }

  # --- Glue runtime names ---------------------------------------------------------------------------------

  glue_security_configuration_name = "${local.name_prefix}-glue"
  job_role_names                   = { for key, job in local.jobs : key => "${local.name_prefix}-glue-${key}" }
  crawler_role_name                = "${local.name_prefix}-glue-crawler"
  table_optimizer_role_name        = "${local.name_prefix}-glue-table-optimizer"

  # Where Glue 5.x writes a job's logs: with --custom-logGroup-prefix <prefix> (set on every job from here),
  # the driver's and executors' stdout and stderr, where the jobs' JSON lines go (totes/logs.py), to
  # "<prefix>/output", and Spark's, Glue's own and the Glue logger's lines to "<prefix>/error". The
  # logs-v2 continuous-logging group is Glue 4's. One prefix per job and environment: the log groups,
  # their retention and key, the metric filters, the alarm, the dashboard and the IAM policy all read
  # this one definition.
  job_log_group_prefixes = { for key, job in local.jobs : key => "/aws-glue/jobs/${job.name}" }
  job_log_groups = {
    for key, prefix in local.job_log_group_prefixes : key => {
      error  = "${prefix}/error"
      output = "${prefix}/output"
    }
  }
  # A crawler with a security configuration that encrypts CloudWatch Logs logs here (role and configuration
  # in the name).
  crawler_log_group = "/aws-glue/crawlers-role/${local.crawler_role_name}-${local.glue_security_configuration_name}"
  log_groups = merge(
    { for key, groups in local.job_log_groups : "${key}-error" => groups.error },
    { for key, groups in local.job_log_groups : "${key}-output" => groups.output },
    { crawlers = local.crawler_log_group },
  )

  metric_namespace = "${var.project}/${var.environment}"

  # The data-quality report (workflow.json's quality block, README "Data quality"): its metric names, and the
  # jobs that publish it, those with --max-quarantine-share, which is also the threshold of their alarm.
  quality = local.workflow.quality
  quality_jobs = {
    for key, job in local.jobs : key => tonumber(job.arguments["--max-quarantine-share"])
    if contains(keys(job.arguments), "--max-quarantine-share")
  }

  # The failure pattern the local alerting uses too, filled with this environment's job names (exact names: a
  # prefix would also match another environment's or team's longer job names).
  job_failure_event_pattern = jsondecode(templatefile("${local.repo_root}/workflow/job_failure_event_pattern.json", {
    job_names = jsonencode(sort([for job in values(local.jobs) : job.name]))
  }))

  # Athena named queries: one per sql/athena/*.sql file, described by its first comment line.
  athena_query_files = fileset("${local.repo_root}/sql/athena", "*.sql")
}
