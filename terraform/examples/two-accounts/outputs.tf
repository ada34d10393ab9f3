output "function_url" {
  description = "HTTPS URL of the function."
  value       = module.pagerstatus.function_url
}

output "webhook_urls" {
  description = "Webhook URL per PagerDuty account."
  value = {
    payments = module.pagerduty_payments.webhook_url
    platform = module.pagerduty_platform.webhook_url
  }
}
