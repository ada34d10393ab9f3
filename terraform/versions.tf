terraform {
  # 1.5: strcontains(), check blocks and optional() object attributes with defaults.
  required_version = ">= 1.5"

  # The state holds every key (they are written to Secret Manager): it lives in a versioned,
  # private bucket, whose name `make deploy` passes to `terraform init` (TF_STATE_BUCKET, or
  # terraform/backend.hcl): terraform/README.md, "First deploy".
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    pagerduty = {
      source  = "PagerDuty/pagerduty"
      version = "~> 3.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
