# Tasks are created by the functions (shared/adapters/tasks.py) with an OIDC token of the tasks
# invoker account; the queues only hold delivery policy.

resource "google_cloud_tasks_queue" "email" {
  project  = var.project_id
  name     = "${var.name_prefix}-email"
  location = var.region

  # SendGrid outages and rate limits are the usual failure: back off up to an hour and give up
  # after a day (handlers answer 4xx for permanent errors, so those are not retried at all).
  retry_config {
    max_attempts       = 20
    min_backoff        = "10s"
    max_backoff        = "3600s"
    max_doublings      = 8
    max_retry_duration = "86400s"
  }

  rate_limits {
    max_dispatches_per_second = 10
    max_concurrent_dispatches = 20
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.api]
}

resource "google_cloud_tasks_queue" "sync" {
  project  = var.project_id
  name     = "${var.name_prefix}-sync"
  location = var.region

  # A sync that keeps failing is superseded by the next push notification or renewal run, so
  # retries stop sooner than for email.
  retry_config {
    max_attempts       = 10
    min_backoff        = "5s"
    max_backoff        = "600s"
    max_doublings      = 6
    max_retry_duration = "21600s"
  }

  # Google Calendar allows 600 requests/min per user: keep bursts of syncs well below that.
  rate_limits {
    max_dispatches_per_second = 5
    max_concurrent_dispatches = 10
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.api]
}
