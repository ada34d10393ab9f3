variable "project_id" {
  type        = string
  description = "Google Cloud project that hosts pagerstatus."
}

variable "statuspage_pages" {
  type        = list(string)
  description = "Statuspage pages both PagerDuty accounts feed (one key reads them all), e.g. a public and a partner page."
}

variable "statuspage_api_key" {
  type        = string
  description = "Statuspage API key (TF_VAR_statuspage_api_key)."
  sensitive   = true
}

variable "payments_api_key" {
  type        = string
  description = "Read-only REST API key of the \"payments\" PagerDuty account (the function reads incidents with it)."
  sensitive   = true
}

variable "payments_terraform_token" {
  type        = string
  description = "Full-access REST API key Terraform manages the \"payments\" account's webhook with; never stored."
  sensitive   = true
}

variable "platform_api_key" {
  type        = string
  description = "Read-only REST API key of the \"platform\" PagerDuty account (the function reads incidents with it)."
  sensitive   = true
}

variable "platform_terraform_token" {
  type        = string
  description = "Full-access REST API key Terraform manages the \"platform\" account's webhooks with; never stored."
  sensitive   = true
}

variable "platform_service_ids" {
  type        = list(string)
  description = "Services of the \"platform\" account to subscribe to (its other services never touch the page)."
}
