# The sync lock lives in Firestore (PAGERSTATUS_LOCK=firestore): one document per Statuspage page,
# leased by the function instance that is reconciling it.

resource "google_firestore_database" "lock" {
  count = var.create_firestore_database ? 1 : 0

  project     = var.project_id
  name        = var.firestore_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"

  # terraform destroy leaves the database (and anything else stored in it) in place.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.apis]
}

# Document read/write for the lock, in the lock's database only. roles/datastore.user is the
# narrowest predefined role with document access (no admin, index or export permissions); the
# condition limits it to one database, as Firestore documents it ("Configure per-database access
# permissions": https://cloud.google.com/firestore/native/docs/manage-databases).
resource "google_project_iam_member" "function_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function.email}"

  condition {
    title       = "pagerstatus-lock-database"
    description = "Only the Firestore database that holds the pagerstatus sync lock."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""
  }
}
