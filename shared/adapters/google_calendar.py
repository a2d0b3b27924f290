"""Google Calendar v3 behind one small class, the only code that talks to the Calendar API.

One `GoogleCalendar` per connected Google account and its credentials. Connections are kept
alive per thread (an httplib2.Http is not thread-safe) and shared by every account's requests,
so a warm instance does not open a new TLS connection to Google for each call. Access tokens
are cached per process by Google account so a warm instance does not refresh on every request.
Transient Google errors (429, 403 rateLimitExceeded, 5xx, socket errors) are retried by
googleapiclient's own exponential backoff (`execute(num_retries=...)`); `invalid_grant` becomes
`CalendarAuthRevoked`; anything else becomes a `GoogleApiError` carrying Google's status and
reason.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from shared.config import settings
from shared.errors import CalendarAuthRevoked, UpstreamUnavailable

NUM_RETRIES = 3

# The least scopes that cover the product (per-method scopes from the discovery document):
# calendarList.list -> calendarlist.readonly; freebusy.query -> freebusy; events insert/patch/
# delete/list/watch -> events. `calendar.events.owned` would be narrower, but the default
# calendar may be one the user can write to without owning it (accessRole "writer"), which
# only `calendar.events` can write. openid + email identify the Google account (id_token).
SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.events",
)


class GoogleApiError(UpstreamUnavailable):
    """A Calendar call failed after retries, or with a status that must not be retried."""

    def __init__(self, message: str, *, status: int, reason: str = ""):
        super().__init__(message)
        self.http_status = status
        self.reason = reason


@dataclass
class _CachedToken:
    token: str
    expiry: datetime | None


_tokens: dict[str, _CachedToken] = {}
_tokens_lock = threading.Lock()
_connections = threading.local()


def _connection():
    """This thread's httplib2.Http, which keeps its connections alive between requests."""
    http = getattr(_connections, "http", None)
    if http is None:
        import httplib2

        http = _connections.http = httplib2.Http(timeout=settings().google_http_timeout)
    return http


@functools.cache
def _discovery_document() -> dict:
    import googleapiclient

    path = os.path.join(
        os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "calendar.v3.json"
    )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _resource(name: str):
    """A Calendar resource (events, freebusy, ...), built once per process.

    Building one generates every method and its documentation (milliseconds each time), so
    requests are built on these shared, stateless builders and executed on each Google
    account's own authorized connection (`execute(http=...)`).
    """
    import httplib2
    from googleapiclient.discovery import build_from_document

    service = build_from_document(
        _discovery_document(),
        http=httplib2.Http(timeout=settings().google_http_timeout),
        client_options={"api_endpoint": settings().google_calendar_endpoint},
    )
    return getattr(service, name)()


def rfc3339(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


class GoogleCalendar:
    def __init__(
        self,
        *,
        google_account_id: str,
        refresh_token: str,
        client_secret: str,
        scopes: list[str] | None = None,
        on_revoked: Callable[[str], None] | None = None,
    ):
        """`on_revoked(google_account_id)` runs before CalendarAuthRevoked is raised, so the
        account is marked "reconnect needed" whichever call noticed (shared/services/google_accounts)."""
        from google.oauth2.credentials import Credentials

        cfg = settings()
        self.google_account_id = google_account_id
        cached = _tokens.get(google_account_id)
        self._credentials = Credentials(
            token=cached.token if cached else None,
            expiry=cached.expiry.replace(tzinfo=None) if cached and cached.expiry else None,
            refresh_token=refresh_token,
            token_uri=cfg.google_token_uri,
            client_id=cfg.google_client_id,
            client_secret=client_secret,
            scopes=scopes,
        )
        self._on_revoked = on_revoked

    def _http(self):
        import google_auth_httplib2

        # Per call: the calling thread's connection with this account's credentials.
        return google_auth_httplib2.AuthorizedHttp(self._credentials, http=_connection())

    def _execute(self, request, *, retries: int = NUM_RETRIES):
        from google.auth.exceptions import RefreshError
        from googleapiclient.errors import HttpError

        try:
            result = request.execute(http=self._http(), num_retries=retries)
        except RefreshError as exc:
            if "invalid_grant" in str(exc):
                if self._on_revoked is not None:
                    self._on_revoked(self.google_account_id)
                raise CalendarAuthRevoked(
                    "Google access was revoked or expired; the account must be reconnected.",
                    google_account_id=self.google_account_id,
                ) from exc
            raise GoogleApiError(f"Google token refresh failed: {exc}", status=503) from exc
        except HttpError as exc:
            raise GoogleApiError(
                f"Google Calendar answered {exc.status_code}: {exc.reason}",
                status=exc.status_code,
                reason=_reason(exc),
            ) from exc
        except (OSError, TimeoutError) as exc:
            raise GoogleApiError(f"Google Calendar unreachable: {exc}", status=503) from exc
        finally:
            self._remember_token()
        return result

    def _remember_token(self) -> None:
        creds = self._credentials
        if creds.token:
            expiry = creds.expiry.replace(tzinfo=timezone.utc) if creds.expiry else None
            with _tokens_lock:
                _tokens[self.google_account_id] = _CachedToken(creds.token, expiry)

    # --- calendars -------------------------------------------------------------------------

    def list_calendars(self) -> list[dict]:
        items: list[dict] = []
        page_token = None
        while True:
            page = self._execute(
                _resource("calendarList").list(maxResults=250, pageToken=page_token)
            )
            items.extend(page.get("items", []))
            page_token = page.get("nextPageToken")
            if not page_token:
                return items

    def freebusy(
        self, calendar_ids: list[str], time_min: datetime, time_max: datetime
    ) -> dict[str, dict]:
        """Raw per-calendar answers: {calendar_id: {"busy": [...], "errors": [...]}}."""
        body = {
            "timeMin": rfc3339(time_min),
            "timeMax": rfc3339(time_max),
            "items": [{"id": cid} for cid in calendar_ids],
        }
        answer = self._execute(_resource("freebusy").query(body=body))
        return answer.get("calendars", {})

    # --- events ----------------------------------------------------------------------------

    def insert_event(self, calendar_id: str, body: dict, *, send_updates: str = "none") -> dict:
        return self._execute(
            _resource("events").insert(
                calendarId=calendar_id,
                body=body,
                conferenceDataVersion=1,
                sendUpdates=send_updates,
            )
        )

    def get_event(self, calendar_id: str, event_id: str) -> dict:
        return self._execute(_resource("events").get(calendarId=calendar_id, eventId=event_id))

    def patch_event(
        self,
        calendar_id: str,
        event_id: str,
        body: dict,
        *,
        etag: str | None = None,
        send_updates: str = "none",
    ) -> dict:
        request = _resource("events").patch(
            calendarId=calendar_id,
            eventId=event_id,
            body=body,
            conferenceDataVersion=1,
            sendUpdates=send_updates,
        )
        if etag:
            request.headers["If-Match"] = etag
        return self._execute(request)

    def delete_event(self, calendar_id: str, event_id: str, *, send_updates: str = "none") -> None:
        self._execute(
            _resource("events").delete(
                calendarId=calendar_id, eventId=event_id, sendUpdates=send_updates
            )
        )

    def list_events(self, calendar_id: str, **params) -> dict:
        """One page of events.list; callers own paging and sync tokens (shared/services/sync)."""
        return self._execute(_resource("events").list(calendarId=calendar_id, **params))

    # --- push channels ---------------------------------------------------------------------

    def watch(
        self, calendar_id: str, *, channel_id: str, address: str, token: str, ttl_seconds: int
    ) -> dict:
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl_seconds)},
        }
        return self._execute(_resource("events").watch(calendarId=calendar_id, body=body))

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        self._execute(
            _resource("channels").stop(body={"id": channel_id, "resourceId": resource_id})
        )


def _reason(exc) -> str:
    try:
        details = json.loads(exc.content.decode() or "{}")
        errors = details.get("error", {}).get("errors") or [{}]
        return errors[0].get("reason", "")
    except (ValueError, AttributeError):
        return ""


def forget_token(google_account_id: str) -> None:
    with _tokens_lock:
        _tokens.pop(google_account_id, None)
