resource "google_firestore_database" "main" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # ABANDON keeps the data when the resource leaves the state; DELETE is for test deployments.
  deletion_policy = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.api]
}

locals {
  # Composite indexes of the queries in shared/services (data model: docs/architecture.md);
  # tests/infra/test_firestore_indexes.py reads the queries and fails when one is missing.
  # Equality filters alone (channels by google_account_id) and ranges on a single field
  # (channels by expiration, the reminder sweep's bookings by start) are served by Firestore's
  # automatic single-field indexes and need nothing here.
  composite_indexes = {
    # owner and assistants of an account (equality only, but it is the hottest lookup)
    members_by_account_role = {
      collection = "members"
      fields     = [["account_id", "ASCENDING"], ["role", "ASCENDING"]]
    }
    # an account's bookings whose padded range meets a time window (availability); with two
    # range fields Firestore orders them by name, so block_end comes first
    bookings_by_account_block = {
      collection = "bookings"
      fields     = [["account_id", "ASCENDING"], ["block_end", "ASCENDING"], ["block_start", "ASCENDING"]]
    }
    # an account's bookings in a time window (booking lists)
    bookings_by_account_start = {
      collection = "bookings"
      fields     = [["account_id", "ASCENDING"], ["start", "ASCENDING"]]
    }
    # bookings in a state within a time window (reminder sweep, follow-ups)
    bookings_by_status_start = {
      collection = "bookings"
      fields     = [["status", "ASCENDING"], ["start", "ASCENDING"]]
    }
  }

  # Collections whose documents expire: Firestore deletes each one some time (typically within
  # 24 h) after the timestamp in this field. Code never relies on deletion being prompt.
  ttl_fields = {
    oauth_states     = "expires_at" # OAuth state + PKCE verifier, minutes
    email_sends      = "expires_at" # idempotency records of sent emails, 35 days
    reminder_tasks   = "expires_at" # reminders already queued by the hourly sweep
    channel_messages = "expires_at" # dedupe markers of push notifications
    booking_claims   = "purge_at"   # booking time claims, a day after the meeting ended
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.composite_indexes

  project     = var.project_id
  database    = google_firestore_database.main.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.key
  field      = each.value

  ttl_config {}

  # No query filters on the expiry timestamp, and indexing a steadily increasing timestamp
  # only creates write hotspots, so the field gets no single-field indexes.
  index_config {}
}
