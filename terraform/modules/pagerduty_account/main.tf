locals {
  # The incident events the function reconciles on. Keep in step with the events it handles.
  # Sorted, as PagerDuty returns them: another order would show as a change on every plan.
  events = [
    "incident.acknowledged",
    "incident.priority_updated",
    "incident.reopened",
    "incident.resolved",
    "incident.triggered",
    "incident.unacknowledged",
  ]

  webhook_url = "${trimsuffix(var.function_url, "/")}/${var.account}"

  # One subscription for the whole account, or one per listed service.
  subscription_scopes = length(var.service_ids) == 0 ? {
    account = { type = "account_reference", id = null }
    } : {
    for id in var.service_ids : id => { type = "service_reference", id = id }
  }
}

# PagerDuty returns custom header values redacted, and the provider then ignores a change to
# custom_header.value (terraform-provider-pagerduty#923, and #594, an unmerged fix): updated in
# place, a subscription would keep sending the old token, and the function refuses it (401).
# A new token therefore replaces the subscriptions. replace_triggered_by takes only resources,
# so this one holds the token's hash (a one-way digest of 48 random characters: not sensitive,
# and a plan shows that it changed).
resource "terraform_data" "webhook_token" {
  input = nonsensitive(sha256(var.webhook_token))
}

resource "pagerduty_webhook_subscription" "pagerstatus" {
  for_each = local.subscription_scopes

  type        = "webhook_subscription"
  active      = true
  description = "pagerstatus (${var.account}): keeps Statuspage in step with incidents. Managed by Terraform."
  events      = local.events

  delivery_method {
    type = "http_delivery_method"
    url  = local.webhook_url

    custom_header {
      name  = "X-Pagerstatus-Token"
      value = var.webhook_token
    }
  }

  # The function maps incidents to Statuspage components itself, from monitor tags.
  filter {
    type = each.value.type
    id   = each.value.id
  }

  lifecycle {
    replace_triggered_by = [terraform_data.webhook_token]
  }
}

# The legacy "Generic V2 Webhook" extension, for those who still run V2 webhooks. PagerDuty
# attaches an extension to services, one extension per service.
data "pagerduty_extension_schema" "generic_v2_webhook" {
  count = var.generic_v2_webhook ? 1 : 0

  name = "Generic V2 Webhook"
}

resource "pagerduty_extension" "generic_v2_webhook" {
  for_each = var.generic_v2_webhook ? toset(var.service_ids) : toset([])

  name              = "pagerstatus (${var.account})"
  endpoint_url      = local.webhook_url
  extension_schema  = data.pagerduty_extension_schema.generic_v2_webhook[0].id
  extension_objects = [each.value]
  # The token header, as in the V3 subscription. Unverified against a live account: if PagerDuty
  # drops custom headers for this extension, the function answers 401 (nothing is synced from it).
  config = jsonencode({
    headers = [{ name = "X-Pagerstatus-Token", value = var.webhook_token }]
  })

  # As for the subscription: whether PagerDuty redacts this header too is unverified, so a new
  # token replaces the extension rather than trust an update in place.
  lifecycle {
    replace_triggered_by = [terraform_data.webhook_token]
  }
}

# The subscription was a single resource before service_ids existed.
moved {
  from = pagerduty_webhook_subscription.pagerstatus
  to   = pagerduty_webhook_subscription.pagerstatus["account"]
}
