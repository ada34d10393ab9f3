terraform {
  required_version = ">= 1.5"

  required_providers {
    # Configured by the caller (one aliased provider per PagerDuty account), passed in as
    # providers = { pagerduty = pagerduty.<account> }.
    pagerduty = {
      source  = "PagerDuty/pagerduty"
      version = "~> 3.0"
    }
  }
}
