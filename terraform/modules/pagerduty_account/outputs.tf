output "account" {
  description = "Account name this module delivers webhooks for."
  value       = var.account
}

output "webhook_url" {
  description = "URL PagerDuty delivers this account's webhooks to."
  value       = local.webhook_url
}

output "webhook_subscription_ids" {
  description = "IDs of the V3 webhook subscriptions, keyed \"account\" or by service ID."
  value       = { for scope, subscription in pagerduty_webhook_subscription.pagerstatus : scope => subscription.id }
}

output "generic_v2_extension_ids" {
  description = "IDs of the legacy Generic V2 Webhook extensions, by service ID (empty unless generic_v2_webhook)."
  value       = { for service, extension in pagerduty_extension.generic_v2_webhook : service => extension.id }
}
