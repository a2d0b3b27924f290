"""Error types that render in Google's wire formats.

Two families exist because Google uses two shapes:
* Calendar v3 (JSON API) errors: {"error": {"code", "message", "errors": [...], "status"}}
* OAuth endpoint errors: {"error": "invalid_grant", "error_description": "..."}
"""
from __future__ import annotations

import json
from typing import Any

# HTTP code -> canonical google.rpc status name used in the "status" field.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "NOT_FOUND",  # Google reports gone sync tokens / deleted resources this way
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}

# Default (domain, message) for reasons used by fault injection, so an injected
# fault looks exactly like the real thing to retry logic in clients.
REASON_DEFAULTS = {
    "rateLimitExceeded": ("usageLimits", "Rate Limit Exceeded"),
    "userRateLimitExceeded": ("usageLimits", "User Rate Limit Exceeded"),
    "quotaExceeded": ("usageLimits", "Calendar usage limits exceeded."),
    "dailyLimitExceeded": ("usageLimits", "Daily Limit Exceeded"),
    "backendError": ("global", "Backend Error"),
    "internalError": ("global", "Internal Error"),
    "forbidden": ("global", "Forbidden"),
    "forbiddenForNonOrganizer": ("calendar", "Shared properties can only be changed by the organizer of the event."),
    "badRequest": ("global", "Bad Request"),
    "invalid": ("global", "Invalid Value"),
    "required": ("global", "Required"),
    "notFound": ("global", "Not Found"),
    "deleted": ("global", "Resource has been deleted"),
    "duplicate": ("global", "The requested identifier already exists."),
    "conditionNotMet": ("global", "Precondition Failed"),
    "fullSyncRequired": ("global", "Sync token is no longer valid, a full sync is required."),
    "authError": ("global", "Invalid Credentials"),
    "insufficientPermissions": ("global", "Insufficient Permission"),
    "requiredAccessLevel": ("calendar", "You need to have writer access to this calendar."),
    "timeRangeEmpty": ("calendar", "The specified time range is empty."),
    "notImplemented": ("global", "Not Implemented"),
}

DEFAULT_REASON_FOR_STATUS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "duplicate",
    410: "deleted",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    501: "notImplemented",
    503: "backendError",
}


class ApiError(Exception):
    """A Calendar API error answered in Google's JSON error shape."""

    def __init__(
        self,
        code: int,
        reason: str | None = None,
        message: str | None = None,
        *,
        domain: str | None = None,
        location: str | None = None,
        location_type: str | None = None,
        top_message: str | None = None,
        details: list | None = None,
        headers: dict | None = None,
    ):
        reason = reason or DEFAULT_REASON_FOR_STATUS.get(code, "badRequest")
        default_domain, default_message = REASON_DEFAULTS.get(reason, ("global", reason))
        self.code = code
        self.reason = reason
        self.message = message or default_message
        self.domain = domain or default_domain
        self.location = location
        self.location_type = location_type
        self.top_message = top_message or self.message
        self.details = details
        self.headers = headers or {}
        super().__init__(f"{code} {reason}: {self.message}")

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location:
            item["location"] = self.location
            item["locationType"] = self.location_type or "parameter"
        err: dict[str, Any] = {
            "code": self.code,
            "message": self.top_message,
            "errors": [item],
            "status": RPC_STATUS.get(self.code, "UNKNOWN"),
        }
        if self.details:
            err["details"] = self.details
        return {"error": err}

    def to_json(self) -> str:
        return json.dumps(self.body(), indent=2)


class OAuthError(Exception):
    """An error of the OAuth endpoints (token, revoke, userinfo)."""

    def __init__(self, error: str, description: str | None = None, status: int = 400, headers: dict | None = None):
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}
        super().__init__(f"{status} {error}: {description}")

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description is not None:
            out["error_description"] = self.description
        return out


def bad_request(message: str, reason: str = "invalid", **kw) -> ApiError:
    return ApiError(400, reason, message, **kw)


def invalid_argument(message: str, field: str | None = None) -> ApiError:
    """An ESF-style INVALID_ARGUMENT with a BadRequest fieldViolation detail."""
    violation = {"description": message}
    if field:
        violation = {"field": field, "description": message}
    return ApiError(
        400,
        "invalid",
        message,
        details=[{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}],
    )
