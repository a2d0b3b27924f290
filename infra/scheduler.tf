# Each job calls one task route with an OIDC token of its own account, which may invoke only
# that job's function.

locals {
  scheduled_jobs = {
    renew-channels = {
      account     = "sched-renew"
      function    = "webhook"
      path        = "/tasks/renew-channels"
      schedule    = var.channel_renewal_schedule
      description = "Replaces Google Calendar push channels that expire soon."
    }
    reminder-sweep = {
      account     = "sched-sweep"
      function    = "notify"
      path        = "/tasks/reminder-sweep"
      schedule    = var.reminder_sweep_schedule
      description = "Re-enqueues booking reminders missing from the email queue."
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "scheduler" {
  for_each = local.scheduled_jobs

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = google_service_account.account[each.value.account].member
}

resource "google_cloud_scheduler_job" "job" {
  for_each = local.scheduled_jobs

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-${each.key}"
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.schedule_time_zone
  attempt_deadline = "320s"

  # Both routes are idempotent sweeps, so a failed run is simply retried a few times.
  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    # Straight to the function's own URL, never through a custom domain in front of it.
    uri     = "${local.run_app_urls[each.value.function]}${each.value.path}"
    headers = { "Content-Type" = "application/json" }
    body    = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.account[each.value.account].email
      # The function's own base URL, without the path: what Cloud Run checks for a private
      # service, and what the task routes check themselves (shared/web/auth.py) on a public one.
      audience = local.function_urls[each.value.function]
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler]
}
