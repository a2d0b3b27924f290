terraform {
  # check blocks and optional() object attributes need 1.5+; 2.x may change the language.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    # Pinned to the minor release whose schema the offline check (tests/infra) verifies against.
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50.0"
    }
    # Zips the staged function sources (tools/package_functions.py stages them).
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7.0"
    }
    # Runs the packaging tool at plan time, so one `terraform apply` builds and deploys.
    external = {
      source  = "hashicorp/external"
      version = "~> 2.3.0"
    }
    # Waits for IAM grants to propagate before Cloud Build uses them on the first apply.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13.0"
    }
  }
}
