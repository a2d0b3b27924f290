"""One exception hierarchy for the product; entry points map it to HTTP once (shared/web/http.py).

Services raise these; they never build HTTP responses themselves.
"""

from __future__ import annotations


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(AppError):
    status = 400
    code = "invalid_request"


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: list[str], **kw):
        super().__init__(message, **kw)
        self.allow = allow


class Conflict(AppError):
    status = 409
    code = "conflict"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"

    def __init__(self, message: str = "slot no longer available", **kw):
        super().__init__(message, **kw)


class Gone(AppError):
    status = 410
    code = "gone"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UpstreamUnavailable(AppError):
    """A dependency (Google, SendGrid) failed in a way that may pass: callers may retry later."""

    status = 503
    code = "upstream_unavailable"


class CalendarUnavailable(UpstreamUnavailable):
    """Free/busy could not be read: availability fails closed instead of guessing."""

    code = "calendar_unavailable"


class CalendarAuthRevoked(AppError):
    """Google answered invalid_grant: the connection needs the owner to reconnect."""

    status = 409
    code = "google_reconnect_needed"

    def __init__(self, message: str, *, google_account_id: str | None = None, **kw):
        super().__init__(message, **kw)
        self.google_account_id = google_account_id
