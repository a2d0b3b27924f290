locals {
  apis = toset([
    "artifactregistry.googleapis.com", # images built from the function sources
    "cloudbuild.googleapis.com",       # builds the function sources
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project number lookup, IAM bindings
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # OIDC tokens minted for Tasks and Scheduler
    "logging.googleapis.com",
    "run.googleapis.com", # gen2 functions run as Cloud Run services
    "secretmanager.googleapis.com",
    "storage.googleapis.com", # function source archives
  ])
}

resource "google_project_service" "api" {
  for_each = local.apis

  project = var.project_id
  service = each.value

  # Other workloads in the project may use the same APIs: never switch them off on destroy.
  disable_on_destroy         = false
  disable_dependent_services = false
}
