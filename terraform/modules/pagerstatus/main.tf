locals {
  # Account names are map keys of a sensitive variable, so Terraform marks them sensitive too
  # and refuses them in for_each. The names are not secret (they appear in URLs and secret IDs).
  accounts = nonsensitive(toset(keys(var.pagerduty_accounts)))

  # statuspage_page_id, the single page of earlier versions, stands in for an empty statuspage_pages
  # (the function's precondition refuses both set, or neither).
  statuspage_pages = var.statuspage_page_id == null ? var.statuspage_pages : [var.statuspage_page_id]
  # Page IDs are not secret; the keys they map to are.
  pages_with_own_key = nonsensitive(toset(keys(var.statuspage_page_api_keys)))

  labels = {
    app        = "pagerstatus"
    managed-by = "terraform"
  }

  required_apis = toset([
    "artifactregistry.googleapis.com", # function images (build.tf)
    "cloudbuild.googleapis.com",       # builds the function from source
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com", # the periodic sync (scheduler.tf)
    "firestore.googleapis.com",      # sync lock
    "iam.googleapis.com",            # the service accounts below
    "run.googleapis.com",            # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",
    "storage.googleapis.com", # source archive bucket
  ])
}

resource "google_project_service" "apis" {
  for_each = local.required_apis

  project = var.project_id
  service = each.value

  # Other workloads in the project may rely on these APIs; never switch them off on destroy.
  disable_on_destroy = false
}

# Identity the function runs as. It gets only: read access to the pagerstatus secrets
# (secrets.tf), secret metadata listing to discover accounts, and Firestore document access
# for the lock (firestore.tf).
resource "google_service_account" "function" {
  project      = var.project_id
  account_id   = "pagerstatus-fn"
  display_name = "pagerstatus function"
  description  = "Runtime identity of the pagerstatus Cloud Function."

  depends_on = [google_project_service.apis]
}

# Identity Cloud Build uses to build the function image. Since mid-2024 new projects no longer
# give the default build identity enough rights (organization policy
# iam.automaticIamGrantsForDefaultServiceAccounts), so a dedicated one makes the deploy
# independent of project history. What it may do is in build.tf.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "pagerstatus-build"
  display_name = "pagerstatus build"
  description  = "Cloud Build identity that builds the pagerstatus function image."

  depends_on = [google_project_service.apis]
}
