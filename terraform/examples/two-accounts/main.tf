# Two PagerDuty accounts feeding two Statuspage pages: "payments" subscribed account-wide,
# "platform" only for some services. Each account needs its own pagerduty provider (its own
# token), hence one provider block and one module block per account.

provider "google" {
  project = var.project_id
  region  = "europe-west1"
}

module "pagerstatus" {
  source = "../../modules/pagerstatus"

  project_id         = var.project_id
  region             = "europe-west1"
  statuspage_pages   = var.statuspage_pages
  statuspage_api_key = var.statuspage_api_key
  pagerduty_accounts = {
    payments = { api_key = var.payments_api_key }
    platform = { api_key = var.platform_api_key, service_region = "eu" }
  }
  severity = "P1=major_outage,P2=partial_outage,low=degraded_performance"
}

provider "pagerduty" {
  alias = "payments"
  token = var.payments_terraform_token
}

module "pagerduty_payments" {
  source    = "../../modules/pagerduty_account"
  providers = { pagerduty = pagerduty.payments }

  account       = "payments"
  function_url  = module.pagerstatus.function_url
  webhook_token = module.pagerstatus.webhook_tokens["payments"]
}

provider "pagerduty" {
  alias          = "platform"
  token          = var.platform_terraform_token
  service_region = "eu" # this account lives in PagerDuty's EU service region
}

module "pagerduty_platform" {
  source    = "../../modules/pagerduty_account"
  providers = { pagerduty = pagerduty.platform }

  account       = "platform"
  function_url  = module.pagerstatus.function_url
  webhook_token = module.pagerstatus.webhook_tokens["platform"]
  service_ids   = var.platform_service_ids
}
