# One service account per function, one per caller (tasks, each scheduler job) and one for
# builds; every grant is on the narrowest resource that carries the permission.

locals {
  # key => who uses the account; the account ID is "<name_prefix>-<key>".
  service_accounts = merge(
    { for name in keys(local.functions) : name => "Runtime identity of the ${name} function." },
    {
      tasks       = "Identity in the OIDC token of every Cloud Tasks task; may invoke notify and webhook only."
      build       = "Cloud Build identity that turns the function sources into images."
      sched-renew = "OIDC identity of the renew-channels Scheduler job; may invoke the webhook function only."
      sched-sweep = "OIDC identity of the reminder-sweep Scheduler job; may invoke the notify function only."
    },
  )
  function_accounts = { for name in keys(local.functions) : name => google_service_account.account[name] }
}

resource "google_service_account" "account" {
  for_each = local.service_accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "calbridge ${each.key}"
  description  = each.value

  depends_on = [google_project_service.api]
}

# Firestore has no per-collection IAM; datastore.user is the narrowest role that reads and
# writes documents (it cannot change indexes, rules or the database).
resource "google_project_iam_member" "function_firestore" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.function_accounts[each.key].member
}

# --- Cloud Tasks: the functions enqueue, the tasks invoker account calls back ---------------

locals {
  # Functions that create tasks (emails, reminders, syncs), and the functions tasks call.
  enqueuers    = toset(["oauth", "booking", "webhook", "notify"])
  task_targets = toset(["notify", "webhook"])
  queues = {
    email = google_cloud_tasks_queue.email
    sync  = google_cloud_tasks_queue.sync
  }
  enqueue_grants = merge([
    for fn in local.enqueuers : { for queue in keys(local.queues) : "${fn}/${queue}" => { function = fn, queue = queue } }
  ]...)
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.enqueue_grants

  project  = var.project_id
  location = local.queues[each.value.queue].location
  name     = local.queues[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = local.function_accounts[each.value.function].member
}

# Creating a task that carries the invoker's OIDC token requires actAs on that account only.
resource "google_service_account_iam_member" "enqueuer_acts_as_tasks_invoker" {
  for_each = local.enqueuers

  service_account_id = google_service_account.account["tasks"].name
  role               = "roles/iam.serviceAccountUser"
  member             = local.function_accounts[each.key].member
}

resource "google_cloud_run_v2_service_iam_member" "tasks_invoker" {
  for_each = local.task_targets

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.account["tasks"].member
}

# --- Public invocation: browsers (oauth, booking) and Google push (webhook) ----------------

resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for name, fn in local.functions : name => fn if fn.public }

  # oauth and booking serve browsers, webhook receives Google's push notifications, which
  # carry no credentials; each authenticates its callers itself (session or API key, OAuth
  # state, channel token). notify stays private.
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- Builds: a dedicated account instead of the default compute account --------------------

# What a function build needs: read the uploaded source, write build logs, push the image.
# (roles/cloudbuild.builds.builder would also do, but it can act as other service accounts.)
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project_id
  role    = each.value
  member  = google_service_account.account["build"].member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.account["build"].member
}

# New IAM grants take up to a couple of minutes to reach Cloud Build and Cloud Run; without
# this pause the very first deployment can fail with a permission error and need a re-run.
resource "time_sleep" "iam_propagation" {
  create_duration = "90s"

  triggers = {
    build_roles  = join(",", [for grant in google_project_iam_member.build : grant.id])
    source_read  = google_storage_bucket_iam_member.build_reads_sources.id
    runtime_sas  = join(",", [for sa in local.function_accounts : sa.email])
    firestore    = join(",", [for grant in google_project_iam_member.function_firestore : grant.id])
    secret_reads = join(",", [for grant in google_secret_manager_secret_iam_member.reader : grant.id])
  }
}
