# A periodic sync backs the webhooks up. It covers a webhook PagerDuty dropped (it disables
# a subscription for 24 h after three failed deliveries), a change answered 202 behind a sync
# whose instance then died, and a lease whose holder never synced.
#
# Cloud Scheduler posts to <function_url>/_sync with a Google-signed OIDC ID token for the
# service account below. The function is publicly invocable, so Cloud Run lets any request
# through; the function itself checks the token's signature, expiry, audience and email
# (pagerstatus/oidc.py) and answers 401 to anything else.

locals {
  # Any string will do as long as both sides agree; naming the project keeps a token minted for
  # another deployment's audience from being accepted here.
  scheduler_audience = "pagerstatus-sync:${var.project_id}"

  # A held-down open or a monitoring incident's resolve happens at the first sync after it is
  # due; a webhook may never come. With either above 0 the periodic sync runs every minute,
  # Cloud Scheduler's finest cadence, so that it happens within a minute of its time.
  timed_rules   = length(regexall("[1-9]", var.open_after)) > 0 || length(regexall("[1-9]", var.monitor_for)) > 0
  sync_schedule = local.timed_rules ? "* * * * *" : var.sync_schedule
}

# The identity the scheduler's ID token names. It needs no roles: the token only proves who
# is calling. The Cloud Scheduler service agent mints the token (its default role,
# roles/cloudscheduler.serviceAgent, allows that); whoever runs terraform apply needs
# iam.serviceAccounts.actAs on this account (Service Account User) to create the job.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "pagerstatus-scheduler"
  display_name = "pagerstatus periodic sync"
  description  = "Identity Cloud Scheduler presents (as an OIDC ID token) when it calls the pagerstatus periodic sync."

  depends_on = [google_project_service.apis]
}

resource "google_cloud_scheduler_job" "sync" {
  count = local.sync_schedule == "" ? 0 : 1

  project          = var.project_id
  region           = var.region
  name             = "pagerstatus-sync"
  description      = "Periodic pagerstatus sync, a backstop for lost webhooks."
  schedule         = local.sync_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "${local.function_url}/_sync"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.scheduler_audience
    }
  }

  depends_on = [google_project_service.apis]
}
