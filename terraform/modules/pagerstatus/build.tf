# What the build identity (main.tf) may do: exactly what Google documents for a user-specified
# Cloud Build service account building a function, each scoped to the one thing it is for.
#
# Documented roles (https://cloud.google.com/run/docs/configuring/services/build-service-account,
# "Required roles"; the same list in https://cloud.google.com/functions/docs/securing/build-custom-sa):
#   Logs Writer (roles/logging.logWriter)               build logs in Cloud Logging
#   Artifact Registry Writer (roles/artifactregistry.writer)   the built image
#   Storage Object Admin (roles/storage.objectAdmin)     the function source in Cloud Storage
# Not roles/cloudbuild.builds.builder: it can run builds as other service accounts, and reads every
# bucket in the project (a Terraform state bucket holds every key).

# Build logs are written to the project: no narrower scope exists for logging.logEntries.create.
resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

moved {
  from = google_project_iam_member.build["roles/logging.logWriter"]
  to   = google_project_iam_member.build_logs
}

# The image goes to a repository of this deployment (build_config.docker_repository) instead of
# the gcf-artifacts repository Cloud Functions would otherwise create per region, so that the
# build may push there and nowhere else ("the repository to use can also be specified by the user
# using the docker_repository field": Cloud Functions v2 API, BuildConfig.DockerRegistry).
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds only the function's image, built from this repository's public source; Google-managed encryption is enough, and a customer-managed key would add a KMS key ring to run.
  project       = var.project_id
  location      = var.region
  repository_id = "pagerstatus"
  description   = "Images of the pagerstatus function, built by pagerstatus-build."
  format        = "DOCKER"
  labels        = local.labels

  # Every deploy pushes an image; the running revision's and a few before it are enough.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Cloud Functions copies the uploaded source into this bucket, and the build reads it from there
  # ("function code is stored in a separate source bucket ... gcf-v2-sources-PROJECT_NUMBER-REGION":
  # https://cloud.google.com/functions/docs/building).
  gcf_sources_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
}

# Storage Object Admin, the documented role, on the gcf-v2-sources bucket only. Cloud Functions
# creates that bucket on the first deploy, so a grant on the bucket itself cannot come first; a
# project grant with an IAM condition on the bucket's resource name can (Cloud Storage resources are
# named projects/_/buckets/BUCKET and projects/_/buckets/BUCKET/objects/OBJECT:
# https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name).
resource "google_project_iam_member" "build_sources" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "pagerstatus-build-function-sources"
    description = "Only the bucket Cloud Functions keeps this region's function sources in."
    expression  = "resource.name == \"projects/_/buckets/${local.gcf_sources_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}/\")"
  }
}

# Read access to the source archives Terraform uploads (function.tf), the build's input.
resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Grants take effect everywhere only after a while: "typically 2 minutes, potentially 7 minutes or
# longer" (https://cloud.google.com/iam/docs/access-change-propagation). A build started at once on a
# first apply would fail on a permission it was just given. The function waits for this, which waits
# for the grants, and waits again whenever one of them is replaced.
resource "time_sleep" "build_grants" {
  create_duration = "120s"

  triggers = {
    logs     = google_project_iam_member.build_logs.id
    images   = google_artifact_registry_repository_iam_member.build_writer.id
    sources  = google_project_iam_member.build_sources.id
    archives = google_storage_bucket_iam_member.build_source_reader.id
  }
}
