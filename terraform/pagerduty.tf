# Each PagerDuty account is its own API tenant, so each needs its own pagerduty provider
# configuration. Terraform cannot create provider configurations with for_each (nor pass a
# different one to each instance of a for_each module), so every account is wired explicitly:
# one provider alias and one module block per key of var.pagerduty_accounts.
# Secrets and webhook tokens for all accounts are created with for_each in modules/pagerstatus.
#
# To add an account, add its entry to pagerduty_accounts, copy the provider and module blocks
# below with the new name, and add the new module to local.pagerduty_account_modules; see
# README.md ("Adding a PagerDuty account").

locals {
  # Token Terraform manages each account's webhook subscription with: its own input, never the
  # function's api_key, which may (and should) be read-only.
  pagerduty_terraform_tokens = {
    for account, config in var.pagerduty_accounts : account => config.terraform_token
  }

  # Every account's webhook module: the outputs cover them all (outputs.tf), whatever they are called.
  pagerduty_account_modules = [
    module.pagerduty_primary,
  ]
}

# An account without a webhook module gets its secrets, and its incidents are synced by the other
# accounts' webhooks and the periodic sync, but PagerDuty sends nothing for it: say so at plan.
check "every_account_has_a_webhook_module" {
  assert {
    condition     = length(setsubtract(nonsensitive(keys(var.pagerduty_accounts)), local.pagerduty_account_modules[*].account)) == 0
    error_message = "Accounts of pagerduty_accounts without a webhook module in local.pagerduty_account_modules (README.md, \"Adding a PagerDuty account\"): ${join(", ", setsubtract(nonsensitive(keys(var.pagerduty_accounts)), local.pagerduty_account_modules[*].account))}."
  }
}

provider "pagerduty" {
  alias = "primary"
  token = local.pagerduty_terraform_tokens["primary"]
  # The provider knows only "eu"; unset means the US service region.
  service_region = var.pagerduty_accounts["primary"].service_region == "eu" ? "eu" : null
}

module "pagerduty_primary" {
  source    = "./modules/pagerduty_account"
  providers = { pagerduty = pagerduty.primary }

  account       = "primary"
  function_url  = module.pagerstatus.function_url
  webhook_token = module.pagerstatus.webhook_tokens["primary"]
  # Service IDs are not secret; the map they come from is.
  service_ids = nonsensitive(var.pagerduty_accounts["primary"].service_ids)
}
