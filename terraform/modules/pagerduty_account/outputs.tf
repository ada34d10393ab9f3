output "account" {
  description = "Account name this subscription delivers for."
  value       = var.account
}

output "webhook_url" {
  description = "URL PagerDuty delivers this account's webhooks to."
  value       = pagerduty_webhook_subscription.pagerstatus.delivery_method[0].url
}

output "webhook_subscription_id" {
  description = "ID of the PagerDuty webhook subscription."
  value       = pagerduty_webhook_subscription.pagerstatus.id
}
