terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # signature_version on aws_sns_topic and the EventBridge API destination resources.
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}
