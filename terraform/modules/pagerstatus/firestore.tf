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

# Document read/write for the lock. Granted on the project: roles/datastore.user is the narrowest
# predefined role with document access, and it holds no admin, index or export permissions.
resource "google_project_iam_member" "function_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function.email}"
}
