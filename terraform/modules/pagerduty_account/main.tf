locals {
  # The incident events the function reconciles on. Keep in step with the events it handles.
  events = [
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.priority_updated",
  ]
}

resource "pagerduty_webhook_subscription" "pagerstatus" {
  type        = "webhook_subscription"
  active      = true
  description = "pagerstatus (${var.account}): keeps Statuspage in step with incidents. Managed by Terraform."
  events      = local.events

  delivery_method {
    type = "http_delivery_method"
    url  = "${trimsuffix(var.function_url, "/")}/${var.account}"

    custom_header {
      name  = "X-Pagerstatus-Token"
      value = var.webhook_token
    }
  }

  # Every incident in the account; the function maps services to Statuspage components itself.
  filter {
    type = "account_reference"
  }
}
