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

output "source_bucket" {
  description = "Bucket that holds the function's source archives."
  value       = module.pagerstatus.source_bucket
}

output "webhook_subscription_ids" {
  description = "PagerDuty webhook subscription IDs per account (one per service when service_ids is set)."
  value = {
    primary = module.pagerduty_primary.webhook_subscription_ids
  }
}
