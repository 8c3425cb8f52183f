# The Data Catalog databases of both zones and the crawlers, from workflow/workflow.json.
#
# The processed zone's database holds Apache Iceberg tables: the jobs' Iceberg catalog creates them and
# records every commit (totes/iceberg.py), and no crawler runs there (workflow.json says why).
# The ingestion job registers every committed run's tables and partitions itself, right after its manifest
# (totes/catalog_sync.py), so Athena sees a run as soon as it is committed. Its crawler only catches schema
# changes and data added by hand, so it runs daily (its own schedule in the definition), not every 15 minutes
# (README: cost). It crawls new folders only and logs schema changes instead of applying them: the tables the
# job registered stay as the job defined them.

resource "aws_glue_catalog_database" "this" {
  for_each = local.workflow.catalog.databases

  name         = each.value.name
  description  = each.value.description
  location_uri = each.value.zone
}

resource "aws_glue_crawler" "this" {
  for_each = local.crawlers

  name                   = each.value.name
  description            = each.value.why
  database_name          = aws_glue_catalog_database.this[each.value.database].name
  role                   = aws_iam_role.glue_crawler.arn
  security_configuration = aws_glue_security_configuration.this.name

  s3_target {
    path = local.workflow.catalog.databases[each.value.database].zone
    # What the jobs register themselves or keep as bookkeeping (workflow.json says which, and why).
    exclusions = each.value.exclusions
  }

  recrawl_policy {
    recrawl_behavior = "CRAWL_NEW_FOLDERS_ONLY"
  }

  # Crawling new folders only requires LOG for both; it is also what keeps the jobs' tables intact.
  schema_change_policy {
    update_behavior = "LOG"
    delete_behavior = "LOG"
  }

  configuration = jsonencode({
    Version = 1.0
    CrawlerOutput = {
      Partitions = { AddOrUpdateBehavior = "InheritFromTable" }
    }
    Grouping = {
      TableGroupingPolicy = "CombineCompatibleSchemas"
    }
  })

  lifecycle {
    precondition {
      condition     = startswith(each.value.name, "${local.name_prefix}-")
      error_message = "Crawler ${each.value.name} (workflow/workflow.json) must start with \"${local.name_prefix}-\" (project and environment), or a second environment's crawler takes its name."
    }
  }
}

# Each crawler runs on its own schedule from the definition, through a trigger of its own (outside the
# 15-minute workflow, whose runs it must not hold up).
resource "aws_glue_trigger" "crawler" {
  for_each = local.crawlers

  name              = "${each.value.name}-schedule"
  description       = "Daily schedule of ${each.value.name}: ${each.value.why}"
  type              = "SCHEDULED"
  schedule          = each.value.schedule
  enabled           = var.schedule_enabled
  start_on_creation = var.schedule_enabled

  actions {
    crawler_name = aws_glue_crawler.this[each.key].name
  }

  depends_on = [aws_iam_role_policy.glue_crawler, aws_cloudwatch_log_group.glue]
}
