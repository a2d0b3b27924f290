# --- Sources: staged by tools/package_functions.py, zipped here, named by content hash -----

# Stages build/<name>/ (entry module + shared/ + requirements.txt from requirements.lock) at
# plan time, so the archives below always reflect the working tree being applied.
data "external" "staged_sources" {
  program = [var.python, "${path.module}/../tools/package_functions.py", "--terraform", "--out", "${path.module}/../build"]
}

data "archive_file" "source" {
  for_each = local.functions

  type        = "zip"
  source_dir  = data.external.staged_sources.result[each.key]
  output_path = "${path.module}/../build/${each.key}.zip"
  # Fixed modes (archive_file already fixes timestamps) make the hash depend on content only.
  output_file_mode = "0644"
}

resource "google_storage_bucket" "sources" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # The bucket holds only build inputs, which every apply can recreate from the repository.
  force_destroy = true

  #checkov:skip=CKV_GCP_62:Access logs of a bucket that only Cloud Build reads, holding sources that are in git anyway, would be noise; Cloud Audit Logs still record admin access.
  versioning {
    enabled = true
  }

  # A deploy replaces the object of a changed function, and versioning keeps the replaced
  # archive for a week, for inspection or a manual rollback; live objects are never expired,
  # since Terraform would upload them again.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  bucket = google_storage_bucket.sources.name
  # A code change changes the name, which redeploys that function and no other.
  name   = "${each.key}/${data.archive_file.source[each.key].output_sha256}.zip"
  source = data.archive_file.source[each.key].output_path
}

# --- Functions ----------------------------------------------------------------------------

locals {
  # Every setting shared/config.py reads, from the resources that define it.
  function_environment = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    CALBRIDGE_REGION     = var.region
    FIRESTORE_DATABASE   = google_firestore_database.main.name
    TASKS_LOCATION       = google_cloud_tasks_queue.email.location
    EMAIL_QUEUE          = google_cloud_tasks_queue.email.name
    SYNC_QUEUE           = google_cloud_tasks_queue.sync.name
    TASKS_INVOKER_EMAIL  = google_service_account.account["tasks"].email
    # Identities whose OIDC tokens the task routes accept (checked in code: webhook is public).
    TASK_CALLER_EMAILS = join(",", [
      for key in ["tasks", "sched-renew", "sched-sweep"] : google_service_account.account[key].email
    ])
    OAUTH_URL              = local.function_urls.oauth
    BOOKING_URL            = local.function_urls.booking
    WEBHOOK_URL            = local.function_urls.webhook
    NOTIFY_URL             = local.function_urls.notify
    GOOGLE_OAUTH_CLIENT_ID = var.google_oauth_client_id
    MAIL_FROM              = var.mail_from
    MAIL_FROM_NAME         = var.mail_from_name
    SECRETS_BACKEND        = "secretmanager"
  }
  # Read by functions-framework itself: its gunicorn threads, one per request an instance
  # accepts at once (max_instance_request_concurrency).
  framework_environment = {
    THREADS = tostring(var.function_concurrency)
  }
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = local.function_names[each.key]
  description = each.value.description

  build_config {
    runtime         = local.runtime
    entry_point     = each.key
    service_account = google_service_account.account["build"].id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    service_account_email = local.function_accounts[each.key].email
    available_memory      = var.function_memory
    available_cpu         = var.function_cpu
    timeout_seconds       = each.value.timeout_seconds
    # Several requests per instance (the code is thread-safe: clients are shared, state is in
    # Firestore), so a burst of guests does not wait for one cold start each.
    max_instance_request_concurrency = var.function_concurrency
    max_instance_count               = var.max_instances
    min_instance_count               = each.value.public ? var.min_instances : 0
    # Cloud Tasks and Scheduler count as internal traffic, so notify needs no public ingress.
    ingress_settings               = each.value.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    environment_variables          = merge(local.function_environment, local.framework_environment)
  }

  depends_on = [time_sleep.iam_propagation]
}
