locals {
  # The repository root: this module lives in terraform/modules/pagerstatus.
  repo_root = "${path.module}/../../.."

  # The function zip holds what the function imports and nothing else: main.py, the package's
  # modules and requirements.txt. Only files named as Python can import them (identifiers ending
  # in .py, in directories named so too), so a stray .env, dotfile, editor backup (app.py~,
  # .#app.py) or binary (.DS_Store, which file() cannot read) never ships; nor do the command
  # line's modules, which main.py never imports. tests/test_terraform.py evaluates this.
  source_include_files = ["main.py", "requirements.txt"]
  source_package       = "pagerstatus"
  source_module_name   = "^(/[A-Za-z_][A-Za-z0-9_]*)+[.]py$"
  source_cli_only      = ["pagerstatus/__main__.py", "pagerstatus/check.py"]

  source_files = sort(concat(local.source_include_files, [
    for file in fileset(local.repo_root, "${local.source_package}/**/*.py") : file
    if can(regex(local.source_module_name, trimprefix(file, local.source_package))) && !contains(local.source_cli_only, file)
  ]))

  function_env = {
    PAGERSTATUS_SECRETS            = "secretmanager"
    GOOGLE_CLOUD_PROJECT           = var.project_id
    STATUSPAGE_PAGE                = join(",", local.statuspage_pages)
    PAGERSTATUS_LOCK               = "firestore"
    PAGERSTATUS_FIRESTORE_DATABASE = var.firestore_database
    PAGERSTATUS_OPEN_ON            = var.open_on
    PAGERSTATUS_SEVERITY           = var.severity
    PAGERSTATUS_DRY_RUN            = tostring(var.dry_run)
    PAGERSTATUS_PAGERDUTY_REGIONS  = local.pagerduty_regions
    # What reaches customers, and when.
    PAGERSTATUS_NOTIFY             = var.notify
    PAGERSTATUS_OPEN_AFTER         = var.open_after
    PAGERSTATUS_MONITOR_FOR        = var.monitor_for
    PAGERSTATUS_MONITORING_BODY    = var.monitoring_body
    PAGERSTATUS_ADOPT_LEGACY       = tostring(var.adopt_legacy)
    PAGERSTATUS_DURING_MAINTENANCE = var.during_maintenance
    # Who may call POST /_sync, the periodic sync (scheduler.tf).
    PAGERSTATUS_SCHEDULER_AUDIENCE        = local.scheduler_audience
    PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT = google_service_account.scheduler.email
  }

  # ACCOUNT=REGION for the accounts outside the default (US) region only: adding or removing a US
  # account leaves the function's environment as it is, so no new revision is built for it.
  # Regions are not secret; the map they come from is.
  pagerduty_regions = join(",", [
    for account in sort(tolist(local.accounts)) : "${account}=${nonsensitive(var.pagerduty_accounts[account].service_region)}"
    if nonsensitive(var.pagerduty_accounts[account].service_region) != "us"
  ])

  function_url = google_cloudfunctions2_function.pagerstatus.service_config[0].uri
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/pagerstatus-source.zip"

  dynamic "source" {
    for_each = local.source_files
    content {
      filename = source.value
      content  = file("${local.repo_root}/${source.value}")
    }
  }
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs (the function source zips Terraform uploads and Cloud Build reads); a usage-log bucket would add a second bucket to secure and nothing worth reading. Enable Data Access audit logs for Cloud Storage if object-level audit is required.
  project  = var.project_id
  name     = "${var.project_id}-pagerstatus-source"
  location = var.region
  labels   = local.labels

  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only build inputs live here; terraform destroy may remove them.
  force_destroy = true

  versioning {
    enabled = true
  }

  # Each code change uploads a new object (the name holds the zip's md5) and deletes the old one;
  # versioning keeps it as noncurrent for a rollback window, then it goes.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  # The md5 in the name makes every code change a new object, which changes the function's
  # storage_source and so rebuilds and redeploys it.
  name         = "pagerstatus-${data.archive_file.source.output_md5}.zip"
  bucket       = google_storage_bucket.source.name
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "pagerstatus" {
  #checkov:skip=CKV_GCP_124:PagerDuty delivers webhooks from the public internet, from addresses that are not in a VPC, so ingress must be ALLOW_ALL; every request is authenticated by the function (token header, V3 signature, or the scheduler's Google ID token).
  project     = var.project_id
  name        = "pagerstatus"
  location    = var.region
  description = "Keeps Statuspage pages ${join(", ", local.statuspage_pages)} in step with PagerDuty incidents (webhook: POST /<account>)."
  labels      = local.labels

  build_config {
    runtime           = "python312"
    entry_point       = "pagerstatus"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    min_instance_count = 0
    max_instance_count = var.max_instance_count
    # Several requests per instance: a burst of webhooks is then coalesced in-process
    # (pagerstatus.lock.ProcessGate) instead of racing in Firestore from many instances.
    # Concurrency above 1 needs a whole vCPU.
    max_instance_request_concurrency = var.max_instance_request_concurrency
    available_cpu                    = "1"
    available_memory                 = "512Mi"
    timeout_seconds                  = var.timeout_seconds
    service_account_email            = google_service_account.function.email
    # PagerDuty delivers webhooks from the public internet; see the invoker binding below.
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    environment_variables          = local.function_env
  }

  # The build's grants, and time for them to take effect (build.tf); the runtime's.
  depends_on = [
    google_project_service.apis,
    time_sleep.build_grants,
    google_secret_manager_secret_iam_member.function_access,
    google_project_iam_member.function_secret_lister,
    google_project_iam_member.function_datastore_user,
  ]

  # Checks across variables (a variable's own validation sees only itself before Terraform 1.9).
  lifecycle {
    precondition {
      condition     = (var.statuspage_page_id == null) != (length(var.statuspage_pages) == 0)
      error_message = "Set statuspage_pages to the page IDs; statuspage_page_id (deprecated, one page) only instead of it, never both."
    }
    precondition {
      condition     = length(setsubtract(local.pages_with_own_key, local.statuspage_pages)) == 0
      error_message = "Every key of statuspage_page_api_keys must be a page ID of statuspage_pages, spelt the same."
    }
  }
}

# Unauthenticated invoke is required: PagerDuty webhooks cannot carry a Google identity token.
# The function authenticates every request itself: the X-Pagerstatus-Token header must equal the
# account's pagerstatus-pd-<account>-webhook-token secret, or the V3 X-PagerDuty-Signature must
# verify against pagerstatus-pd-<account>-webhook-secret where one is stored; POST /_sync needs
# the scheduler's Google-signed ID token. A request that fails gets 401 before any PagerDuty or
# Statuspage call.
resource "google_cloud_run_service_iam_member" "public_invoker" {
  #checkov:skip=CKV_GCP_102:Webhook receiver for PagerDuty, which cannot present Google credentials; the function authenticates each request with a per-account shared token header (and optionally the V3 signature).
  project  = var.project_id
  location = google_cloudfunctions2_function.pagerstatus.location
  # A 2nd gen function runs as the Cloud Run service of the same name.
  service = google_cloudfunctions2_function.pagerstatus.name
  role    = "roles/run.invoker"
  member  = "allUsers"
}
