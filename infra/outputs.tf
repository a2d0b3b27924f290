output "function_urls" {
  description = "Base URL of each function, as the functions themselves know it."
  value       = { for name in keys(local.functions) : name => local.function_urls[name] }

  depends_on = [google_cloudfunctions2_function.function]
}

output "oauth_redirect_uri" {
  description = "Authorized redirect URI to register on the OAuth client (APIs & Services > Credentials)."
  value       = local.oauth_redirect_uri
}

output "booking_url" {
  description = "Public base URL of the booking pages."
  value       = local.function_urls.booking
}

output "webhook_url" {
  description = "Address Google Calendar push notifications are sent to (one channel per watched calendar)."
  value       = local.function_urls.webhook
}

output "deployed_service_uris" {
  description = "Cloud Run URIs reported by the deployed functions (the same services as function_urls)."
  value       = { for name, fn in google_cloudfunctions2_function.function : name => fn.service_config[0].uri }
}

output "secret_ids" {
  description = "Secret Manager secrets whose values you add with `gcloud secrets versions add ID --data-file=-`."
  value       = keys(google_secret_manager_secret.secret)
}

output "service_accounts" {
  description = "Email of every service account, by role: each function, tasks, build, sched-renew, sched-sweep."
  value       = { for key, sa in google_service_account.account : key => sa.email }
}
