# A periodic sync backs the webhooks up. It covers a webhook PagerDuty dropped (it disables
# a subscription for 24 h after three failed deliveries), a change answered 202 behind a sync
# whose instance then died, and a lease whose holder never synced. It posts the event
# `pagerstatus.resync` to the first account's URL with that account's token; any account
# would do, since every sync reads all of them.
locals {
  resync_account = sort(tolist(local.accounts))[0]
}

resource "google_cloud_scheduler_job" "resync" {
  count = var.resync_schedule == "" ? 0 : 1

  project          = var.project_id
  region           = var.region
  name             = "pagerstatus-resync"
  description      = "Periodic pagerstatus sync, a backstop for lost webhooks."
  schedule         = var.resync_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "${local.function_url}/${local.resync_account}"
    body        = base64encode(jsonencode({ event = { event_type = "pagerstatus.resync" } }))
    headers = {
      "Content-Type"        = "application/json"
      "X-Pagerstatus-Token" = random_password.webhook_token[local.resync_account].result
    }
  }

  depends_on = [google_project_service.apis]
}
