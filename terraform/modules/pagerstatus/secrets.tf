# Secret IDs are a contract with the function (pagerstatus/ reads them by these exact names):
#   pagerstatus-statuspage-api-key
#   pagerstatus-statuspage-<page id>-api-key  (optional: a page's own key)
#   pagerstatus-pd-<account>-api-key
#   pagerstatus-pd-<account>-webhook-token
#   pagerstatus-pd-<account>-webhook-secret   (optional)
# Every secret carries the label pagerstatus=true, per-account ones also pagerstatus-account=<account>,
# per-page ones pagerstatus-page=<page id>:
# the function lists secrets at runtime to find its PagerDuty accounts, so adding an account is
# adding secrets, with no redeploy of the function.
#
# Secret values pass through Terraform state: keep the state in an access-controlled, encrypted
# remote backend (for example a GCS bucket with versioning).

locals {
  statuspage_secret_id = "pagerstatus-statuspage-api-key"

  # The pages with a key of their own (var.statuspage_page_api_keys).
  page_secret_ids = { for page in local.pages_with_own_key : page => "pagerstatus-statuspage-${page}-api-key" }

  account_secret_ids = {
    for account in local.accounts : account => {
      api_key        = "pagerstatus-pd-${account}-api-key"
      webhook_token  = "pagerstatus-pd-${account}-webhook-token"
      webhook_secret = "pagerstatus-pd-${account}-webhook-secret"
    }
  }

  # Accounts that supplied a V3 signing secret (see var.pagerduty_accounts).
  accounts_with_webhook_secret = nonsensitive(toset([
    for account, config in var.pagerduty_accounts : account if config.webhook_secret != null
  ]))

  # One entry per per-account secret, keyed "<account>/<kind>". Values are looked up in the
  # resources below: sensitive values cannot be part of a for_each map.
  account_secrets = merge(
    {
      for account in local.accounts : "${account}/api_key" => {
        account   = account
        kind      = "api_key"
        secret_id = local.account_secret_ids[account].api_key
      }
    },
    {
      for account in local.accounts : "${account}/webhook_token" => {
        account   = account
        kind      = "webhook_token"
        secret_id = local.account_secret_ids[account].webhook_token
      }
    },
    {
      for account in local.accounts_with_webhook_secret : "${account}/webhook_secret" => {
        account   = account
        kind      = "webhook_secret"
        secret_id = local.account_secret_ids[account].webhook_secret
      }
    },
  )
}

# Shared token PagerDuty sends in the X-Pagerstatus-Token header of every webhook. Rotate with
# terraform apply -replace='module.pagerstatus.random_password.webhook_token["<account>"]': the secret
# gets a new version, then (webhook_tokens waits for it) the account's subscriptions are replaced
# (modules/pagerduty_account). terraform/README.md, "Rotating a webhook token".
resource "random_password" "webhook_token" {
  for_each = local.accounts

  length  = 48
  special = false
}

resource "google_secret_manager_secret" "statuspage_api_key" {
  project   = var.project_id
  secret_id = local.statuspage_secret_id
  labels    = merge(local.labels, { pagerstatus = "true" })

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "statuspage_api_key" {
  secret      = google_secret_manager_secret.statuspage_api_key.id
  secret_data = var.statuspage_api_key

  # A new value replaces the version: the new one is added before the old one is destroyed, so
  # that "latest" always has an enabled version (a cold instance reading in between would fail).
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret" "statuspage_page_api_key" {
  for_each = local.page_secret_ids

  project   = var.project_id
  secret_id = each.value
  labels = merge(local.labels, {
    pagerstatus      = "true"
    pagerstatus-page = lower(each.key) # label values are lower-case
  })

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "statuspage_page_api_key" {
  for_each = local.page_secret_ids

  secret      = google_secret_manager_secret.statuspage_page_api_key[each.key].id
  secret_data = var.statuspage_page_api_keys[each.key]

  # A new value replaces the version: the new one is added before the old one is destroyed, so
  # that "latest" always has an enabled version (a cold instance reading in between would fail).
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret" "account" {
  for_each = local.account_secrets

  project   = var.project_id
  secret_id = each.value.secret_id
  labels = merge(local.labels, {
    pagerstatus         = "true"
    pagerstatus-account = each.value.account
  })

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "account" {
  for_each = local.account_secrets

  secret = google_secret_manager_secret.account[each.key].id
  secret_data = (
    each.value.kind == "api_key" ? var.pagerduty_accounts[each.value.account].api_key :
    each.value.kind == "webhook_token" ? random_password.webhook_token[each.value.account].result :
    var.pagerduty_accounts[each.value.account].webhook_secret
  )

  # A new value replaces the version: the new one is added before the old one is destroyed, so
  # that "latest" always has an enabled version (a cold instance reading in between would fail).
  lifecycle {
    create_before_destroy = true
  }
}

# Least privilege for reading payloads: secretAccessor on exactly these secrets, not on the project,
# so the function cannot read any other secret in the project.
resource "google_secret_manager_secret_iam_member" "function_access" {
  for_each = merge(
    { statuspage_api_key = google_secret_manager_secret.statuspage_api_key.secret_id },
    # "page:" cannot clash with the accounts' "<account>/<kind>" keys: no account name has a colon.
    { for page, secret in google_secret_manager_secret.statuspage_page_api_key : "page:${page}" => secret.secret_id },
    { for key, secret in google_secret_manager_secret.account : key => secret.secret_id },
  )

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function.email}"
}

# Account discovery lists secrets (secretmanager.secrets.list). Listing is a permission on the
# project, so it cannot be granted per secret. A role holding that permission alone: names and
# labels of secrets, never payloads, versions or IAM policies (roles/secretmanager.viewer would
# show those too). Payload access stays limited to the bindings above.
resource "google_project_iam_custom_role" "secret_lister" {
  project     = var.project_id
  role_id     = "pagerstatusSecretLister"
  title       = "pagerstatus secret lister"
  description = "Lists Secret Manager secrets (names and labels only) so that pagerstatus finds its PagerDuty accounts."
  permissions = ["secretmanager.secrets.list"]
}

resource "google_project_iam_member" "function_secret_lister" {
  project = var.project_id
  role    = google_project_iam_custom_role.secret_lister.id
  member  = "serviceAccount:${google_service_account.function.email}"
}
