terraform {
  # templatefile/jsondecode, optional object attributes, startswith() and check blocks need 1.5 or later.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x: data.aws_region exposes `region` (its `name` is deprecated there).
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  # The one tag set, applied to every resource that takes tags.
  default_tags {
    tags = local.tags
  }
}
