locals {
  # Secret ids are fixed: shared/secrets.py reads projects/P/secrets/<id>/versions/latest.
  # Terraform creates the secrets; their values are added by hand (README: Deploy to Google
  # Cloud), so they never pass through Terraform state.
  secrets = {
    oauth-client-secret  = "Client secret of the Google OAuth web client."
    sendgrid-api-key     = "SendGrid API key with the Mail Send permission."
    token-encryption-key = "32 random bytes, base64url: encrypts Google refresh tokens at rest."
    signing-key          = "Random string: signs session cookies and links in emails."
  }

  # Which function reads which secret; each gets secretAccessor on exactly these.
  secret_readers = {
    oauth   = ["oauth-client-secret", "token-encryption-key", "signing-key"]
    booking = ["oauth-client-secret", "token-encryption-key", "signing-key"]
    webhook = ["oauth-client-secret", "token-encryption-key"]
    # notify refreshes Google tokens too: reminder defaults come from the host's calendar.
    notify = ["sendgrid-api-key", "signing-key", "oauth-client-secret", "token-encryption-key"]
  }

  secret_grants = merge([
    for fn, ids in local.secret_readers : { for id in ids : "${fn}/${id}" => { function = fn, secret = id } }
  ]...)
}

resource "google_secret_manager_secret" "secret" {
  for_each = local.secrets

  project             = var.project_id
  secret_id           = each.key
  deletion_protection = var.deletion_protection
  annotations         = { purpose = each.value }

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.function_accounts[each.value.function].member
}
