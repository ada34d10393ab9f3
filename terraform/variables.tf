# Inputs of this deployment. Each is passed to modules/pagerstatus, which validates it and
# documents it in full; pagerduty_accounts also feeds the per-account webhook modules.

variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that hosts the function, its secrets and its Firestore database."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Function, its source bucket and the scheduler job, e.g. us-central1."
  default     = "us-central1"
}

variable "statuspage_pages" {
  type        = list(string)
  description = "IDs of the Atlassian Statuspage pages the function keeps truthful, e.g. [\"abcd1234efgh\", \"ijkl5678mnop\"]."
  default     = []
}

variable "statuspage_page_id" {
  type        = string
  description = "Deprecated: the one page of earlier versions; use statuspage_pages. Honoured while statuspage_pages is empty."
  default     = null
}

variable "statuspage_api_key" {
  type        = string
  description = "Statuspage API key for every page without its own, stored in Secret Manager; prefer TF_VAR_statuspage_api_key to a file."
  sensitive   = true
}

variable "statuspage_page_api_keys" {
  type        = map(string)
  description = "Optional Statuspage API key per page ID of statuspage_pages, for a page statuspage_api_key cannot reach (TF_VAR_statuspage_page_api_keys)."
  default     = {}
  sensitive   = true
}

variable "pagerduty_accounts" {
  type = map(object({
    api_key         = string
    terraform_token = string
    webhook_secret  = optional(string)
    service_region  = optional(string, "us")
    service_ids     = optional(list(string), [])
  }))
  description = <<-EOT
    PagerDuty accounts, keyed by account name (the webhook path https://FUNCTION_URL/<name>;
    ^[a-z0-9][a-z0-9_-]{0,62}$).
      api_key         - REST API key the function reads incidents with (read-only is enough).
      terraform_token - full-access REST API key Terraform manages the webhook subscription with;
                        never stored in Secret Manager. Required, and not api_key: the key the
                        function holds at run time should be read-only.
      webhook_secret  - optional V3 signing secret of a subscription made outside Terraform.
      service_region  - optional PagerDuty service region of the account: us (default) or eu.
      service_ids     - optional PagerDuty service IDs to subscribe to; empty: the whole account.
    Every key also needs a provider alias and a module block in pagerduty.tf (see README.md).
  EOT
  sensitive   = true

  validation {
    condition     = alltrue([for account in values(var.pagerduty_accounts) : length(trimspace(account.terraform_token)) > 0])
    error_message = "Every pagerduty_accounts entry needs a terraform_token: a full-access PagerDuty REST API key for its webhook subscription."
  }
}

variable "open_on" {
  type        = string
  description = "PagerDuty status from which a Statuspage incident opens: acknowledged or triggered."
  default     = "acknowledged"
}

variable "severity" {
  type        = string
  description = "PagerDuty priority/urgency to Statuspage component status, e.g. \"P1=major_outage,low=degraded_performance\". Empty: partial_outage."
  default     = ""
}

variable "dry_run" {
  type        = bool
  description = "Log the Statuspage changes the function would make and write nothing (a first rollout)."
  default     = false
}

variable "sync_schedule" {
  type        = string
  description = "Cron schedule (UTC) of the periodic sync that heals lost webhooks. Empty: none."
  default     = "*/5 * * * *"
}

# Renamed to sync_schedule. Terraform only warns about a tfvars value for a variable it does not
# declare: an older tfvars turning the periodic sync off with resync_schedule = "" would then get
# sync_schedule's default and the sync back on. Declared here so that such a value is refused.
variable "resync_schedule" {
  type        = string
  description = "Renamed to sync_schedule; any value is refused, so that one from an older tfvars is not silently ignored."
  default     = null

  validation {
    condition     = var.resync_schedule == null
    error_message = "resync_schedule is now sync_schedule: set sync_schedule to the same value (\"\" for no periodic sync) and remove resync_schedule."
  }
}

variable "max_instance_request_concurrency" {
  type        = number
  description = "Concurrent requests one function instance serves (a burst is coalesced inside the instance)."
  default     = 16
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on function instances."
  default     = 10
}

variable "timeout_seconds" {
  type        = number
  description = "Function timeout in seconds for one webhook."
  default     = 60
}

variable "firestore_database" {
  type        = string
  description = "Firestore database (native mode) for the sync lock: \"(default)\" or a database ID."
  default     = "(default)"
}

variable "create_firestore_database" {
  type        = bool
  description = "Create firestore_database; false to use one that already exists in the project."
  default     = true
}

variable "firestore_location" {
  type        = string
  description = "Location of a created Firestore database, e.g. nam5 or eur3. Null: the region."
  default     = null
}

variable "notify" {
  type        = string
  description = "Which writes notify the page's subscribers: all, none, or a set of open, escalate, deescalate, monitoring, resolve."
  default     = "open,escalate,resolve"
}

variable "open_after" {
  type        = string
  description = "Hold-down before a component opens, e.g. 0, 90s, 5m. Above 0, the periodic sync runs every minute."
  default     = "0"
}

variable "monitor_for" {
  type        = string
  description = "How long a recovered incident shows as monitoring before it resolves, e.g. 10m; 0 resolves at once."
  default     = "0"
}

variable "monitoring_body" {
  type        = string
  description = "Public text of the move into monitoring; {component} is the name. Empty: the function's default."
  default     = ""
}

variable "adopt_legacy" {
  type        = bool
  description = "Also adopt the original tool's open incidents (first update ending with a line holding only its watermark)."
  default     = false
}

variable "during_maintenance" {
  type        = string
  description = "A component under maintenance that PagerDuty wants open: hold (skip it) or open."
  default     = "hold"
}
