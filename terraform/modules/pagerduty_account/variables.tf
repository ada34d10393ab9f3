variable "account" {
  type        = string
  description = "Account name: the webhook URL path segment and the <account> in the pagerstatus-pd-<account>-* secret IDs."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", var.account))
    error_message = "account must match ^[a-z0-9][a-z0-9_-]{0,62}$."
  }
}

variable "function_url" {
  type        = string
  description = "HTTPS base URL of the pagerstatus function; webhooks go to <function_url>/<account>."

  validation {
    condition     = startswith(var.function_url, "https://")
    error_message = "function_url must be an https:// URL."
  }
}

variable "webhook_token" {
  type        = string
  description = "Shared token PagerDuty sends in the X-Pagerstatus-Token header; the function compares it with the pagerstatus-pd-<account>-webhook-token secret."
  sensitive   = true

  validation {
    condition     = length(var.webhook_token) >= 32
    error_message = "webhook_token must be at least 32 characters."
  }
}

variable "service_ids" {
  type        = list(string)
  description = "PagerDuty service IDs whose incidents this account sends. Empty: one subscription for the whole account."
  default     = []

  validation {
    condition     = alltrue([for id in var.service_ids : can(regex("^P[A-Z0-9]{6,}$", id))])
    error_message = "service_ids must be PagerDuty service IDs such as PABC123."
  }
}

variable "generic_v2_webhook" {
  type        = bool
  description = "Also add the legacy \"Generic V2 Webhook\" extension to each service in service_ids (V2 payloads, same URL and token header)."
  default     = false

  validation {
    condition     = !var.generic_v2_webhook || length(var.service_ids) > 0
    error_message = "generic_v2_webhook needs service_ids: PagerDuty attaches V2 extensions to services."
  }
}
