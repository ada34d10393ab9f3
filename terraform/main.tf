# pagerstatus on Google Cloud, wired to the PagerDuty accounts in pagerduty.tf.
# Everything on Google Cloud is in modules/pagerstatus; each account's webhook subscription
# is an instance of modules/pagerduty_account. examples/two-accounts shows the same for two.

module "pagerstatus" {
  source = "./modules/pagerstatus"

  project_id               = var.project_id
  region                   = var.region
  statuspage_pages         = var.statuspage_pages
  statuspage_page_id       = var.statuspage_page_id
  statuspage_api_key       = var.statuspage_api_key
  statuspage_page_api_keys = var.statuspage_page_api_keys
  # The Terraform-only fields (terraform_token, service_ids) stay here.
  pagerduty_accounts = {
    for name, account in var.pagerduty_accounts : name => {
      api_key        = account.api_key
      webhook_secret = account.webhook_secret
      service_region = account.service_region
    }
  }

  open_on                          = var.open_on
  severity                         = var.severity
  dry_run                          = var.dry_run
  sync_schedule                    = var.sync_schedule
  max_instance_request_concurrency = var.max_instance_request_concurrency
  max_instance_count               = var.max_instance_count
  timeout_seconds                  = var.timeout_seconds
  firestore_database               = var.firestore_database
  create_firestore_database        = var.create_firestore_database
  firestore_location               = var.firestore_location

  notify             = var.notify
  open_after         = var.open_after
  monitor_for        = var.monitor_for
  monitoring_body    = var.monitoring_body
  adopt_legacy       = var.adopt_legacy
  during_maintenance = var.during_maintenance
}
