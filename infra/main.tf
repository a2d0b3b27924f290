# calbridge on Google Cloud: four HTTP functions (Cloud Functions gen2), Firestore, two Cloud
# Tasks queues, two Scheduler jobs and four Secret Manager secrets. Files by concern:
# apis.tf, firestore.tf, secrets.tf, functions.tf, iam.tf, tasks.tf, scheduler.tf, outputs.tf.

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { app = "calbridge" })
}

data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.api]
}

locals {
  # The Python runtime matches the lock: requirements.lock is compiled for 3.11 (make lock).
  runtime = "python311"

  # Per function: who may call it, and how long one request may take. Public ones serve
  # browsers (oauth, booking) or Google's push notifications (webhook, authenticated by the
  # channel token); notify only answers Cloud Tasks and Scheduler with an OIDC token.
  functions = {
    oauth = {
      public          = true
      timeout_seconds = 60
      description     = "Connects Google accounts (OAuth consent and callback)."
    }
    booking = {
      public          = true
      timeout_seconds = 60
      description     = "Booking pages and the booking API."
    }
    webhook = {
      public          = true
      timeout_seconds = 300
      description     = "Google Calendar push notifications, calendar sync and channel renewal."
    }
    notify = {
      public          = false
      timeout_seconds = 300
      description     = "Booking emails and reminders, sent from Cloud Tasks."
    }
  }

  function_names = { for name in keys(local.functions) : name => "${var.name_prefix}-${name}" }

  # Each function needs the others' URLs in its environment, so taking them from the function
  # resources would be a dependency cycle. Gen2 functions are Cloud Run services, whose
  # deterministic URL is https://SERVICE-PROJECT_NUMBER.REGION.run.app; Cloud Run accepts it
  # both for requests and as the audience of OIDC tokens. (A public service passes any
  # Authorization header through unchecked, so tasks to the webhook work behind a custom domain.)
  run_app_urls = {
    for name, service in local.function_names :
    name => "https://${service}-${data.google_project.this.number}.${var.region}.run.app"
  }
  function_urls = merge(local.run_app_urls, {
    for name, url in var.public_base_urls : name => url if url != null
  })
  oauth_redirect_uri = "${local.function_urls.oauth}/oauth/callback"
}
