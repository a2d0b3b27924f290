variable "project_id" {
  description = "ID of the Google Cloud project to deploy into (it must exist and have billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits or hyphens), not its name or number."
  }
}

variable "region" {
  description = "Region of the functions, the Cloud Tasks queues and the Scheduler jobs."
  type        = string
  default     = "europe-west3"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west3 or us-central1."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore database: a region (europe-west3) or a multi-region (eur3, nam5). It cannot be changed later."
  type        = string
  default     = "europe-west3"

  validation {
    condition     = can(regex("^([a-z]+-[a-z]+[0-9]+|eur3|nam5|nam7)$", var.firestore_location))
    error_message = "firestore_location must be a region such as europe-west3 or one of the multi-regions eur3, nam5, nam7."
  }
}

variable "firestore_database" {
  description = "Firestore database ID. Keep \"(default)\" unless the project already uses its default database for something else."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or 4-63 lowercase letters, digits or hyphens starting with a letter."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, queues, jobs, bucket), so two deployments can share a project."
  type        = string
  default     = "calbridge"

  validation {
    # Service account IDs are at most 30 characters and the longest suffix is "-sched-renew".
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-17 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "google_oauth_client_id" {
  description = "Client ID of the OAuth 2.0 web client created in APIs & Services > Credentials (its secret goes into Secret Manager, not here)."
  type        = string

  validation {
    condition     = endswith(var.google_oauth_client_id, ".apps.googleusercontent.com")
    error_message = "google_oauth_client_id must end with .apps.googleusercontent.com."
  }
}

variable "mail_from" {
  description = "Sender address of booking emails; it must be a verified sender (or domain) in SendGrid."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.mail_from))
    error_message = "mail_from must be an email address."
  }
}

variable "mail_from_name" {
  description = "Display name of the sender of booking emails."
  type        = string
  default     = "calbridge"

  validation {
    # SendGrid rejects names containing ; or , (see docs on mail send limitations).
    condition     = length(trimspace(var.mail_from_name)) > 0 && !can(regex("[;,]", var.mail_from_name))
    error_message = "mail_from_name must not be empty and must not contain ';' or ','."
  }
}

variable "public_base_urls" {
  description = <<-EOT
    Public base URLs to use instead of the functions' run.app URLs, for a domain of yours mapped
    to a public function (a load balancer or Firebase Hosting in front of it). Leave empty to use
    the run.app URLs. The OAuth redirect URI follows the oauth URL; Google Calendar push
    notifications go to the webhook URL (use a domain you verified with Google if push asks for it).
  EOT
  type = object({
    oauth   = optional(string)
    booking = optional(string)
    webhook = optional(string)
  })
  default = {}

  validation {
    condition = alltrue([
      for url in values(var.public_base_urls) : url == null ? true : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?(/[^?#]*[^/?#])?$", url))
    ])
    error_message = "public_base_urls values must be https:// URLs without a trailing slash, query or fragment."
  }
}

variable "schedule_time_zone" {
  description = "IANA time zone in which the Scheduler cron expressions are read."
  type        = string
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.schedule_time_zone))
    error_message = "schedule_time_zone must be an IANA time zone such as Etc/UTC or Europe/Berlin."
  }
}

variable "channel_renewal_schedule" {
  description = "Cron schedule of the push channel renewal (Google channels expire after about 7 days; renewal replaces those close to expiry)."
  type        = string
  default     = "17 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.channel_renewal_schedule))) == 5
    error_message = "channel_renewal_schedule must be a 5-field cron expression, e.g. \"17 * * * *\"."
  }
}

variable "reminder_sweep_schedule" {
  description = "Cron schedule of the sweep that enqueues reminders entering Cloud Tasks' 30-day window and replays booking emails Cloud Tasks refused at the time (hourly, so such emails are at most an hour late)."
  type        = string
  default     = "17 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.reminder_sweep_schedule))) == 5
    error_message = "reminder_sweep_schedule must be a 5-field cron expression, e.g. \"30 5 * * *\"."
  }
}

variable "function_memory" {
  description = "Memory of each function instance."
  type        = string
  default     = "512Mi"

  validation {
    condition     = contains(["256Mi", "512Mi", "1Gi", "2Gi", "4Gi"], var.function_memory)
    error_message = "function_memory must be one of 256Mi, 512Mi, 1Gi, 2Gi, 4Gi."
  }
}

variable "function_cpu" {
  description = "vCPUs of each function instance; serving several requests at once (function_concurrency > 1) needs at least 1."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2"], var.function_cpu)
    error_message = "function_cpu must be \"1\" or \"2\"."
  }
}

variable "function_concurrency" {
  description = "Requests one instance serves at once (functions-framework's threads). With max_instances it bounds the concurrent requests per function; at 1, a burst of guests waits for new instances and their cold starts."
  type        = number
  default     = 8

  validation {
    condition     = var.function_concurrency >= 1 && var.function_concurrency <= 80 && floor(var.function_concurrency) == var.function_concurrency
    error_message = "function_concurrency must be a whole number between 1 and 80."
  }
}

variable "max_instances" {
  description = "Upper bound on instances per function: caps cost and protects Google API quotas under a traffic spike."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number between 1 and 1000."
  }
}

variable "min_instances" {
  description = "Instances kept warm per public function (oauth, booking, webhook) to avoid cold starts; 0 costs nothing when idle."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 10 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number between 0 and 10."
  }
}

variable "deletion_protection" {
  description = "Protect the Firestore database and the secrets from `terraform destroy`. Set false only to tear down a test deployment."
  type        = bool
  default     = true
}

variable "python" {
  description = "Python 3.11+ interpreter that runs tools/package_functions.py during plan."
  type        = string
  default     = "python3"
}

variable "labels" {
  description = "Labels added to every resource that supports them."
  type        = map(string)
  default     = {}
}
