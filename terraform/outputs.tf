output "function_url" {
  description = "HTTPS URL of the function. PagerDuty account <account> posts to <function_url>/<account>."
  value       = module.pagerstatus.function_url
}

output "webhook_urls" {
  description = "Webhook URL per PagerDuty account (the path segment is the account name)."
  value       = module.pagerstatus.webhook_urls
}

output "function_service_account_email" {
  description = "Email of the service account the function runs as."
  value       = module.pagerstatus.function_service_account_email
}

output "scheduler_service_account_email" {
  description = "Email of the service account the periodic sync presents an ID token for."
  value       = module.pagerstatus.scheduler_service_account_email
}

output "secret_ids" {
  description = "Secret Manager secret IDs the function reads, per kind and account."
  value       = module.pagerstatus.secret_ids
}

output "function_environment" {
  description = "The function's environment variables (no keys), to run `python -m pagerstatus check` with its configuration."
  value       = module.pagerstatus.function_environment
}

output "source_bucket" {
  description = "Bucket that holds the function's source archives."
  value       = module.pagerstatus.source_bucket
}

output "webhook_subscription_ids" {
  description = "PagerDuty webhook subscription IDs per account of pagerduty_accounts (one per service when service_ids is set; none for an account without a webhook module)."
  value = {
    for account in nonsensitive(keys(var.pagerduty_accounts)) : account => lookup(local.webhook_subscription_ids, account, {})
  }
}

locals {
  # Each webhook module's subscriptions under the account it serves (pagerduty.tf).
  webhook_subscription_ids = { for webhooks in local.pagerduty_account_modules : webhooks.account => webhooks.webhook_subscription_ids }
}
