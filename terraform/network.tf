# Where the JDBC jobs run: Glue puts their network interfaces (private IPs only) in glue_subnet_id, in the
# security group below. Glue requires a security group with a self-referencing rule for all TCP ports, so the
# driver and executors reach each other; the databases must admit that group on their port; and the subnet
# needs an S3 endpoint or a NAT gateway, or Glue will not start the job. No package index is needed: the jobs'
# Python modules come from the artifacts bucket (artifacts.tf).

data "aws_subnet" "glue" {
  id = var.glue_subnet_id
}

data "aws_vpc" "glue" {
  id = data.aws_subnet.glue.vpc_id
}

data "aws_prefix_list" "s3" {
  name = "com.amazonaws.${local.region}.s3"
}

resource "aws_security_group" "glue" {
  #checkov:skip=CKV2_AWS_5:Attached to the jobs through aws_glue_connection.this (physical_connection_requirements.security_group_id_list), a resource type the check does not follow.
  name        = "${local.name_prefix}-glue-jobs"
  description = "Glue JDBC jobs of ${local.name_prefix}: self-referencing, HTTPS out, PostgreSQL to the databases"
  vpc_id      = data.aws_vpc.glue.id

  tags = {
    Name = "${local.name_prefix}-glue-jobs"
  }
}

resource "aws_vpc_security_group_ingress_rule" "glue_self" {
  #checkov:skip=CKV_AWS_24:False positive: the rule admits only its own security group (referenced_security_group_id), no CIDR; the check does not read referenced_security_group_id.
  #checkov:skip=CKV_AWS_25:False positive: the rule admits only its own security group (referenced_security_group_id), no CIDR; the check does not read referenced_security_group_id.
  #checkov:skip=CKV_AWS_260:False positive: the rule admits only its own security group (referenced_security_group_id), no CIDR; the check does not read referenced_security_group_id.
  security_group_id            = aws_security_group.glue.id
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
  description                  = "Glue driver and executors talk to each other on any TCP port"
}

resource "aws_vpc_security_group_egress_rule" "glue_self" {
  security_group_id            = aws_security_group.glue.id
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
  description                  = "Glue driver and executors talk to each other on any TCP port"
}

resource "aws_vpc_security_group_egress_rule" "glue_s3" {
  security_group_id = aws_security_group.glue.id
  prefix_list_id    = data.aws_prefix_list.s3.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "S3 through the gateway endpoint: scripts, library, zones, temp, Spark event logs"
}

locals {
  interface_endpoints_to_create = var.aws_api_route == "vpc_endpoints" ? sort(tolist(setsubtract(local.vpc_api_services, var.existing_interface_endpoints))) : []
}

resource "aws_vpc_security_group_egress_rule" "glue_endpoints" {
  count = length(local.interface_endpoints_to_create) > 0 ? 1 : 0

  security_group_id            = aws_security_group.glue.id
  referenced_security_group_id = aws_security_group.endpoints[0].id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "AWS APIs through the interface endpoints: ${join(", ", local.interface_endpoints_to_create)}"
}

resource "aws_vpc_security_group_egress_rule" "glue_existing_endpoints" {
  count = var.aws_api_route == "vpc_endpoints" && length(var.existing_interface_endpoints) > 0 ? 1 : 0

  security_group_id = aws_security_group.glue.id
  cidr_ipv4         = data.aws_vpc.glue.cidr_block
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "AWS APIs through the VPC's existing interface endpoints: ${join(", ", var.existing_interface_endpoints)}"
}

# With aws_api_route = nat_gateway, the subnet's route tables (glue_route_table_ids) must send 0.0.0.0/0 to a
# NAT gateway: an internet gateway route does not work, since Glue's network interfaces have private addresses
# only. Looked up by id, not by subnet: a subnet that uses the VPC's main route table implicitly has no
# association a subnet lookup could find.
data "aws_route_table" "glue" {
  for_each = var.aws_api_route == "nat_gateway" ? toset(var.glue_route_table_ids) : toset([])

  route_table_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "glue_https" {
  count = var.aws_api_route == "nat_gateway" ? 1 : 0

  security_group_id = aws_security_group.glue.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "AWS APIs over HTTPS through the subnet's NAT gateway"

  lifecycle {
    precondition {
      condition = length(data.aws_route_table.glue) > 0 && alltrue([
        for table in values(data.aws_route_table.glue) : anytrue([for route in table.routes : route.cidr_block == "0.0.0.0/0" && try(route.nat_gateway_id, "") != ""])
      ])
      error_message = "aws_api_route = nat_gateway needs glue_route_table_ids (the route tables of glue_subnet_id), each with a 0.0.0.0/0 route to a NAT gateway: add the route, or use aws_api_route = vpc_endpoints."
    }
  }
}

locals {
  # One rule per database security group (or, when unknown, the VPC's address range) and port: two databases
  # behind one security group and port, e.g. one RDS instance, share a rule, which AWS would refuse twice.
  database_endpoints = { for name, connection in local.connections : name => connection.database }
  database_rules = {
    for key, databases in {
      for name, database in local.database_endpoints :
      "${coalesce(database.security_group_id, "vpc")}-${database.port}" => merge(database, { name = name })...
    } : key => merge(databases[0], { names = join(" and ", [for database in databases : database.name]) })
  }
}

resource "aws_vpc_security_group_egress_rule" "glue_database" {
  for_each = local.database_rules

  security_group_id            = aws_security_group.glue.id
  referenced_security_group_id = each.value.security_group_id
  cidr_ipv4                    = each.value.security_group_id == null ? data.aws_vpc.glue.cidr_block : null
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = "PostgreSQL: the ${each.value.names} database"
}

resource "aws_vpc_security_group_ingress_rule" "database_from_glue" {
  for_each = { for key, rule in local.database_rules : key => rule if rule.security_group_id != null }

  security_group_id            = each.value.security_group_id
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = "PostgreSQL from the ${local.name_prefix} Glue jobs (${each.value.names})"
}

# --- VPC endpoints ------------------------------------------------------------------------------------------

resource "aws_vpc_endpoint" "s3" {
  count = var.create_s3_gateway_endpoint ? 1 : 0

  vpc_id            = data.aws_vpc.glue.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.glue_route_table_ids

  tags = {
    Name = "${local.name_prefix}-s3"
  }

  lifecycle {
    precondition {
      condition     = length(var.glue_route_table_ids) > 0
      error_message = "create_s3_gateway_endpoint needs glue_route_table_ids: the route tables of glue_subnet_id."
    }
  }
}

resource "aws_security_group" "endpoints" {
  count = length(local.interface_endpoints_to_create) > 0 ? 1 : 0

  name        = "${local.name_prefix}-vpc-endpoints"
  description = "Interface VPC endpoints of ${local.name_prefix}: HTTPS from the Glue jobs"
  vpc_id      = data.aws_vpc.glue.id

  tags = {
    Name = "${local.name_prefix}-vpc-endpoints"
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_glue" {
  count = length(local.interface_endpoints_to_create) > 0 ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the Glue jobs"
}

# Private DNS makes the services' usual names resolve to the endpoints, so the jobs' clients need no setting.
resource "aws_vpc_endpoint" "interface" {
  for_each = toset(local.interface_endpoints_to_create)

  vpc_id              = data.aws_vpc.glue.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [data.aws_subnet.glue.id]
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = {
    Name = "${local.name_prefix}-${each.key}"
  }
}
