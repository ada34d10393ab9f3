output "function_url" {
  description = "HTTPS URL of the function. PagerDuty account <account> posts to <function_url>/<account>."
  value       = local.function_url
}

output "function_service_account_email" {
  description = "Email of the service account the function runs as."
  value       = google_service_account.function.email
}

output "scheduler_service_account_email" {
  description = "Email of the service account whose OIDC ID token the periodic sync (POST /_sync) presents."
  value       = google_service_account.scheduler.email
}

output "webhook_tokens" {
  description = "Generated X-Pagerstatus-Token value per account, for that account's modules/pagerduty_account instance. Also stored as pagerstatus-pd-<account>-webhook-token."
  value       = { for account in local.accounts : account => random_password.webhook_token[account].result }
  sensitive   = true
  # A subscription sends a new token only once the function can read it: after a rotation the
  # secret's new version is written first, then the subscriptions are replaced.
  depends_on = [google_secret_manager_secret_version.account]
}

output "webhook_urls" {
  description = "Webhook URL per PagerDuty account (the path segment is the account name)."
  value       = { for account in local.accounts : account => "${local.function_url}/${account}" }
}

output "secret_ids" {
  description = "Secret Manager secret IDs created for the function: the Statuspage key, the pages' own Statuspage keys and, per PagerDuty account, its API key, webhook token and (when supplied) webhook signing secret."
  value = {
    statuspage_api_key       = google_secret_manager_secret.statuspage_api_key.secret_id
    statuspage_page_api_keys = { for page, secret in google_secret_manager_secret.statuspage_page_api_key : page => secret.secret_id }
    accounts = {
      for account in local.accounts : account => {
        for kind, secret_id in local.account_secret_ids[account] : kind => secret_id
        if contains(keys(google_secret_manager_secret.account), "${account}/${kind}")
      }
    }
  }
}

output "source_bucket" {
  description = "Bucket that holds the function's source archives."
  value       = google_storage_bucket.source.name
}

output "function_environment" {
  description = "The function's environment variables (no keys: those are in Secret Manager), for `python -m pagerstatus check` with the function's configuration."
  value       = local.function_env
}
