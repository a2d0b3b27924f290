"""Settings read once per process from the environment.

The same names are set by Terraform in the cloud (infra/functions.tf) and by the local stack
(local/stack.py); only endpoints differ between the two, never code paths.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    firestore_database: str
    # Cloud Tasks: the emulator host is set only in the local stack; in the cloud the client
    # uses its default endpoint and tasks carry an OIDC token of the invoker account.
    tasks_emulator_host: str
    tasks_location: str
    email_queue: str
    sync_queue: str
    tasks_invoker_email: str
    # Service accounts whose Google-signed OIDC tokens may call task routes (Cloud Tasks and
    # Scheduler). Empty in the local stack, whose emulators send no tokens.
    task_caller_emails: tuple[str, ...]
    # Public base URLs of the four functions (Cloud Run URLs in the cloud).
    oauth_url: str
    booking_url: str
    webhook_url: str
    notify_url: str
    # Google endpoints: production values by default, the sandbox's in the local stack.
    google_auth_uri: str
    google_token_uri: str
    google_revoke_uri: str
    google_certs_uri: str
    google_calendar_endpoint: str
    google_client_id: str
    # SendGrid
    sendgrid_host: str
    mail_from: str
    mail_from_name: str
    # Where secrets come from: "secretmanager" in the cloud, "env" locally (see shared/secrets.py).
    secrets_backend: str
    secrets_file: str
    google_http_timeout: float
    session_max_age: int

    @property
    def is_local(self) -> bool:
        return self.oauth_url.startswith(("http://127.0.0.1", "http://localhost"))

    @property
    def oauth_redirect_uri(self) -> str:
        return f"{self.oauth_url}/oauth/callback"


@functools.cache
def settings() -> Settings:
    return Settings(
        project=_env("GOOGLE_CLOUD_PROJECT", "calbridge-local"),
        region=_env("CALBRIDGE_REGION", "europe-west3"),
        firestore_database=_env("FIRESTORE_DATABASE", "(default)"),
        tasks_emulator_host=_env("CLOUD_TASKS_EMULATOR_HOST", ""),
        tasks_location=_env("TASKS_LOCATION", "europe-west3"),
        email_queue=_env("EMAIL_QUEUE", "email"),
        sync_queue=_env("SYNC_QUEUE", "sync"),
        tasks_invoker_email=_env("TASKS_INVOKER_EMAIL", ""),
        task_caller_emails=tuple(
            e.strip() for e in _env("TASK_CALLER_EMAILS", "").split(",") if e.strip()
        ),
        oauth_url=_env("OAUTH_URL", "http://127.0.0.1:8701").rstrip("/"),
        booking_url=_env("BOOKING_URL", "http://127.0.0.1:8702").rstrip("/"),
        webhook_url=_env("WEBHOOK_URL", "http://127.0.0.1:8703").rstrip("/"),
        notify_url=_env("NOTIFY_URL", "http://127.0.0.1:8704").rstrip("/"),
        google_auth_uri=_env("GOOGLE_AUTH_URI", "https://accounts.google.com/o/oauth2/v2/auth"),
        google_token_uri=_env("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token"),
        google_revoke_uri=_env("GOOGLE_REVOKE_URI", "https://oauth2.googleapis.com/revoke"),
        google_certs_uri=_env("GOOGLE_CERTS_URI", "https://www.googleapis.com/oauth2/v1/certs"),
        google_calendar_endpoint=_env(
            "GOOGLE_CALENDAR_ENDPOINT", "https://www.googleapis.com/calendar/v3/"
        ),
        google_client_id=_env("GOOGLE_OAUTH_CLIENT_ID", "calbridge-local.apps.googleusercontent.com"),
        sendgrid_host=_env("SENDGRID_HOST", "https://api.sendgrid.com").rstrip("/"),
        mail_from=_env("MAIL_FROM", "bookings@calbridge.local"),
        mail_from_name=_env("MAIL_FROM_NAME", "calbridge"),
        secrets_backend=_env("SECRETS_BACKEND", "env"),
        secrets_file=_env("SECRETS_FILE", ""),
        google_http_timeout=float(_env("GOOGLE_HTTP_TIMEOUT", "10")),
        session_max_age=int(_env("SESSION_MAX_AGE", str(12 * 3600))),
    )
