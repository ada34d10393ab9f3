# State moves from the layout before modules/pagerstatus existed (everything in this directory),
# so an existing deployment is updated in place rather than destroyed and recreated.
# Safe to delete once every deployment has applied them.

moved {
  from = google_firestore_database.lock
  to   = module.pagerstatus.google_firestore_database.lock
}

moved {
  from = google_project_iam_member.function_datastore_user
  to   = module.pagerstatus.google_project_iam_member.function_datastore_user
}

moved {
  from = google_storage_bucket.source
  to   = module.pagerstatus.google_storage_bucket.source
}

moved {
  from = google_storage_bucket_object.source
  to   = module.pagerstatus.google_storage_bucket_object.source
}

moved {
  from = google_cloudfunctions2_function.pagerstatus
  to   = module.pagerstatus.google_cloudfunctions2_function.pagerstatus
}

moved {
  from = google_cloud_run_service_iam_member.public_invoker
  to   = module.pagerstatus.google_cloud_run_service_iam_member.public_invoker
}

moved {
  from = google_project_service.apis
  to   = module.pagerstatus.google_project_service.apis
}

moved {
  from = google_service_account.function
  to   = module.pagerstatus.google_service_account.function
}

moved {
  from = google_service_account.build
  to   = module.pagerstatus.google_service_account.build
}

moved {
  from = google_project_iam_member.build
  to   = module.pagerstatus.google_project_iam_member.build
}

moved {
  from = random_password.webhook_token
  to   = module.pagerstatus.random_password.webhook_token
}

moved {
  from = google_secret_manager_secret.statuspage_api_key
  to   = module.pagerstatus.google_secret_manager_secret.statuspage_api_key
}

moved {
  from = google_secret_manager_secret_version.statuspage_api_key
  to   = module.pagerstatus.google_secret_manager_secret_version.statuspage_api_key
}

moved {
  from = google_secret_manager_secret.account
  to   = module.pagerstatus.google_secret_manager_secret.account
}

moved {
  from = google_secret_manager_secret_version.account
  to   = module.pagerstatus.google_secret_manager_secret_version.account
}

moved {
  from = google_secret_manager_secret_iam_member.function_access
  to   = module.pagerstatus.google_secret_manager_secret_iam_member.function_access
}

moved {
  from = google_project_iam_member.function_secret_lister
  to   = module.pagerstatus.google_project_iam_member.function_secret_lister
}

moved {
  from = google_cloud_scheduler_job.resync
  to   = module.pagerstatus.google_cloud_scheduler_job.sync
}
