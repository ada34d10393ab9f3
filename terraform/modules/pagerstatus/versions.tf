terraform {
  # 1.5: strcontains(), check blocks and optional() object attributes with defaults.
  required_version = ">= 1.5"

  # Configured by the caller (the root module in terraform/ or an example).
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
    # time_sleep: the build waits for its IAM grants to take effect (build.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}
