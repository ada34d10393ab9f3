variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that hosts the function, its secrets and its Firestore database."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the Cloud Function and of its source bucket, e.g. us-central1 or europe-west1."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1 (not a zone, not a multi-region)."
  }
}

variable "statuspage_pages" {
  type        = list(string)
  description = "IDs of the Atlassian Statuspage pages the function keeps truthful, all of them on every sync (set as STATUSPAGE_PAGE, comma-separated). A component tag goes to the page that has the component."
  default     = []

  validation {
    condition     = alltrue([for page in var.statuspage_pages : can(regex("^[A-Za-z0-9]+$", page))])
    error_message = "Every statuspage_pages entry must be an alphanumeric page ID from the Statuspage API (manage.statuspage.io/pages/<ID>)."
  }

  validation {
    # The function refuses them: ids that differ only in case would share one STATUSPAGE_KEY_<PAGE ID>.
    condition     = length(distinct([for page in var.statuspage_pages : lower(page)])) == length(var.statuspage_pages)
    error_message = "statuspage_pages must list each page once (IDs that differ only in case are the same page)."
  }
}

variable "statuspage_page_id" {
  type        = string
  description = "Deprecated: the one page of earlier versions; use statuspage_pages = [\"<ID>\"] instead. Still honoured when statuspage_pages is empty, so an existing configuration keeps working."
  default     = null

  validation {
    condition     = var.statuspage_page_id == null || can(regex("^[A-Za-z0-9]+$", var.statuspage_page_id))
    error_message = "statuspage_page_id must be the alphanumeric page ID from the Statuspage API (manage.statuspage.io/pages/<ID>)."
  }
}

variable "statuspage_api_key" {
  type        = string
  description = "Statuspage API key, for every page without its own in statuspage_page_api_keys. Stored in Secret Manager as pagerstatus-statuspage-api-key; prefer passing it as TF_VAR_statuspage_api_key."
  sensitive   = true

  validation {
    condition     = length(var.statuspage_api_key) > 0
    error_message = "statuspage_api_key must not be empty."
  }
}

variable "statuspage_page_api_keys" {
  type        = map(string)
  description = "Optional Statuspage API key per page ID of statuspage_pages, for a page that statuspage_api_key cannot reach (a page of another Statuspage organisation). Stored in Secret Manager as pagerstatus-statuspage-<page ID>-api-key; the other pages use statuspage_api_key."
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for key in values(var.statuspage_page_api_keys) : length(key) > 0])
    error_message = "Every statuspage_page_api_keys value must be a non-empty key: leave a page out to use statuspage_api_key."
  }
}

variable "pagerduty_accounts" {
  type = map(object({
    api_key        = string
    webhook_secret = optional(string)
    service_region = optional(string, "us")
  }))
  description = <<-EOT
    PagerDuty accounts the function serves, keyed by account name. The name is the webhook URL path
    (https://FUNCTION_URL/<name>) and part of the secret IDs pagerstatus-pd-<name>-*; it must match
    ^[a-z0-9][a-z0-9_-]{0,62}$.
      api_key         - REST API key the function uses to read incidents (a read-only key is enough);
                        stored as pagerstatus-pd-<name>-api-key.
      webhook_secret  - optional V3 webhook signing secret, stored as pagerstatus-pd-<name>-webhook-secret.
                        Only for subscriptions created outside Terraform: PagerDuty shows the signing
                        secret once at creation and the provider does not expose it.
      service_region  - PagerDuty service region the account lives in: us (default) or eu. The function
                        reads each account through its region's API.
    Each account's webhook is made by modules/pagerduty_account, one instance per account.
  EOT
  sensitive   = true

  validation {
    condition     = length(var.pagerduty_accounts) > 0
    error_message = "pagerduty_accounts needs at least one PagerDuty account."
  }

  validation {
    condition     = alltrue([for name in keys(var.pagerduty_accounts) : can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", name))])
    error_message = "Every pagerduty_accounts key must match ^[a-z0-9][a-z0-9_-]{0,62}$ (it becomes a URL path, a secret ID part and a label value)."
  }

  validation {
    # The function refuses such a pair (pagerstatus/keys.py): the two used to answer to one PD_ACCOUNT_<NAME>.
    condition     = length(distinct([for name in keys(var.pagerduty_accounts) : replace(name, "-", "_")])) == length(var.pagerduty_accounts)
    error_message = "No two pagerduty_accounts keys may differ only in - versus _ (such as other-team and other_team)."
  }

  validation {
    condition     = alltrue([for account in values(var.pagerduty_accounts) : contains(["us", "eu"], account.service_region)])
    error_message = "Every pagerduty_accounts service_region must be \"us\" or \"eu\"."
  }

  validation {
    condition     = alltrue([for account in values(var.pagerduty_accounts) : length(account.api_key) > 0])
    error_message = "Every pagerduty_accounts entry needs a non-empty api_key."
  }
}

variable "open_on" {
  type        = string
  description = "PagerDuty incident status from which a Statuspage incident is opened (PAGERSTATUS_OPEN_ON): acknowledged or triggered."
  default     = "acknowledged"

  validation {
    condition     = contains(["acknowledged", "triggered"], var.open_on)
    error_message = "open_on must be \"acknowledged\" or \"triggered\"."
  }
}

variable "severity" {
  type        = string
  description = "Map from PagerDuty priority name or urgency to Statuspage component status (PAGERSTATUS_SEVERITY), e.g. \"P1=major_outage,P2=partial_outage,low=degraded_performance\"; key * sets the default. Empty means every incident is partial_outage."
  default     = ""

  validation {
    # Same grammar the function parses at startup; a typo here would otherwise fail every webhook.
    condition = alltrue([
      for item in split(",", var.severity) :
      trimspace(item) == "" || can(regex("^[^=]*[^= ][^=]*=[ ]*(major_outage|partial_outage|degraded_performance)[ ]*$", item))
    ])
    error_message = "severity must be empty or comma-separated KEY=STATUS items, STATUS one of major_outage, partial_outage, degraded_performance."
  }

  validation {
    # The function refuses a KEY given twice, in any case: which status was meant cannot be known.
    condition = length(distinct([
      for item in split(",", var.severity) : lower(trimspace(split("=", item)[0])) if trimspace(item) != ""
    ])) == length([for item in split(",", var.severity) : item if trimspace(item) != ""])
    error_message = "severity must give each KEY once (P1 and p1 are the same KEY)."
  }
}

variable "dry_run" {
  type        = bool
  description = "Run the function in dry-run mode (PAGERSTATUS_DRY_RUN): it logs the Statuspage changes it would make and writes nothing. Useful for a first rollout."
  default     = false
}

variable "sync_schedule" {
  type        = string
  description = "Cron schedule (UTC) of the periodic sync that covers lost webhooks: Cloud Scheduler calls POST /_sync with an OIDC ID token. E.g. \"*/5 * * * *\". Empty: no periodic sync. With open_after or monitor_for above 0 it runs every minute whatever this says."
  default     = "*/5 * * * *"

  validation {
    condition     = var.sync_schedule == "" || length(split(" ", trimspace(var.sync_schedule))) == 5
    error_message = "sync_schedule must be empty or a five-field cron expression."
  }
}

variable "max_instance_request_concurrency" {
  type        = number
  description = "Concurrent requests one function instance serves. Above 1, webhooks arriving together are coalesced inside the instance before they reach the Firestore lock."
  default     = 16

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000 && floor(var.max_instance_request_concurrency) == var.max_instance_request_concurrency
    error_message = "max_instance_request_concurrency must be an integer between 1 and 1000."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on concurrently running function instances; keeps a webhook storm from fanning out into Statuspage rate limits."
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 100 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be an integer between 1 and 100."
  }
}

variable "timeout_seconds" {
  type        = number
  description = "Function timeout in seconds for one webhook (one reconcile with PagerDuty, Statuspage, Secret Manager and Firestore)."
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be an integer between 1 and 3600 (the HTTP function maximum)."
  }
}

variable "firestore_database" {
  type        = string
  description = "Firestore database (native mode) that holds the sync lock (PAGERSTATUS_FIRESTORE_DATABASE). \"(default)\" or the ID of a named database."
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or a database ID of 4-63 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "create_firestore_database" {
  type        = bool
  description = "Create firestore_database in native mode. Set to false to use a database that already exists in the project (it must be in native mode)."
  default     = true
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database when it is created, e.g. nam5, eur3 or a region. Null means the function's region. Cannot be changed later."
  default     = null
}

# What reaches customers, and when (README.md, "What customers see").

variable "notify" {
  type        = string
  description = "Which writes notify the page's subscribers (PAGERSTATUS_NOTIFY): all, none, or a comma-separated set of open (an incident opens or relapses), escalate, deescalate (a component's status rises or falls while open), monitoring (the move into the monitoring stage), resolve."
  default     = "open,escalate,resolve"

  validation {
    condition = contains(["all", "none"], lower(trimspace(var.notify))) || alltrue([
      for event in split(",", var.notify) : contains(["", "open", "escalate", "deescalate", "monitoring", "resolve"], lower(trimspace(event)))
    ])
    error_message = "notify must be all, none, or a comma-separated set of open, escalate, deescalate, monitoring, resolve."
  }
}

variable "open_after" {
  type        = string
  description = "Hold-down (PAGERSTATUS_OPEN_AFTER): a component opens only once an opening PagerDuty incident has been acknowledged (or, opening on trigger, triggered) this long, e.g. 0, 90s, 5m, 1h30m. Above 0, the periodic sync runs every minute."
  default     = "0"

  validation {
    condition     = can(regex("^(0|[0-9]+h([0-9]+m)?([0-9]+s)?|[0-9]+m([0-9]+s)?|[0-9]+s)$", lower(trimspace(var.open_after))))
    error_message = "open_after must be a duration: 0, or hours, minutes and seconds in that order, such as 90s, 5m or 1h30m."
  }
}

variable "monitor_for" {
  type        = string
  description = "Monitoring stage (PAGERSTATUS_MONITOR_FOR): how long a recovered incident shows as monitoring before it resolves, e.g. 10m; 0 resolves at once. Above 0, the periodic sync runs every minute."
  default     = "0"

  validation {
    condition     = can(regex("^(0|[0-9]+h([0-9]+m)?([0-9]+s)?|[0-9]+m([0-9]+s)?|[0-9]+s)$", lower(trimspace(var.monitor_for))))
    error_message = "monitor_for must be a duration: 0, or hours, minutes and seconds in that order, such as 90s, 10m or 1h."
  }
}

variable "monitoring_body" {
  type        = string
  description = "Public text of the move into the monitoring stage (PAGERSTATUS_MONITORING_BODY); {component} is the component's or group's name. Empty: the function's default."
  default     = ""

  validation {
    condition     = length(regexall("[{}]", replace(var.monitoring_body, "{component}", ""))) == 0
    error_message = "monitoring_body may use {component} and no other braces."
  }
}

variable "adopt_legacy" {
  type        = bool
  description = "Also treat as this service's the open incidents of the original tool, whose first update's body ends with a line holding only its watermark (PAGERSTATUS_ADOPT_LEGACY). Off: only incidents whose metadata says so."
  default     = false
}

variable "during_maintenance" {
  type        = string
  description = "A component under maintenance that PagerDuty wants open (PAGERSTATUS_DURING_MAINTENANCE): hold logs and skips it, open opens as usual. An incident already open for it is kept either way."
  default     = "hold"

  validation {
    condition     = contains(["hold", "open"], var.during_maintenance)
    error_message = "during_maintenance must be \"hold\" or \"open\"."
  }
}
