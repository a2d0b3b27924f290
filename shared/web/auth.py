"""Who is calling: an API key as bearer token (JSON API) or a signed session cookie (pages).

The session cookie is made by itsdangerous (Flask's own signer) with the signing key from
Secret Manager: it carries the member id, a CSRF token and its issue time, and expires after
SESSION_MAX_AGE. Every state-changing form posts the CSRF token back; it is compared in constant
time. Cookies are HttpOnly, SameSite=Lax, and Secure everywhere but the local stack (plain http).
"""

from __future__ import annotations

import functools
import hmac
import secrets as _secrets

from flask import Request, Response

from shared import errors, secrets
from shared.config import settings
from shared.services import members
from shared.services.members import Member

SESSION_COOKIE = "cb_session"
OWNER_ONLY_MESSAGE = (
    "Only the account owner can change the Google Calendar integration; "
    "assistants can view it."
)


@functools.cache
def _serializer():
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secrets.get(secrets.SIGNING_KEY), salt="calbridge-session")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def session_data(request: Request) -> dict | None:
    from itsdangerous import BadSignature

    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return _serializer().loads(raw, max_age=settings().session_max_age)
    except BadSignature:
        return None


def current_member(request: Request) -> Member | None:
    key = _bearer(request)
    if key is not None:
        member = members.member_by_key(key)
        if member is None:
            raise errors.Unauthenticated("invalid API key")
        return member
    data = session_data(request)
    return members.get_member(data["m"]) if data else None


def require_member(request: Request, *, owner: bool = False) -> Member:
    member = current_member(request)
    if member is None:
        raise errors.Unauthenticated(
            "authentication required: send 'Authorization: Bearer <API key>' or sign in"
        )
    if owner and not member.is_owner:
        raise errors.Forbidden(OWNER_ONLY_MESSAGE, code="owner_only")
    return member


def start_session(response: Response, member: Member) -> None:
    token = _serializer().dumps({"m": member.id, "csrf": _secrets.token_urlsafe(24)})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings().session_max_age,
        httponly=True,
        secure=not settings().is_local,
        samesite="Lax",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=not settings().is_local,
                           samesite="Lax")


def csrf_token(request: Request) -> str:
    data = session_data(request)
    return data["csrf"] if data else ""


def check_csrf(request: Request) -> None:
    """Forms authenticated by cookie must echo the session's CSRF token; bearer calls need not."""
    if _bearer(request) is not None:
        return
    expected = csrf_token(request)
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise errors.Forbidden(
            "the form has expired or did not come from this site; reload the page and try again",
            code="csrf_failed",
        )


def require_task_caller(request: Request, function_url: str) -> None:
    """Task routes accept only our Cloud Tasks / Scheduler identities.

    A public function (webhook) is reachable by anyone, and Cloud Run checks no token on a
    public service, so the route verifies the Google-signed OIDC token itself: audience = this
    function's URL (what shared/adapters/tasks.py and infra/scheduler.tf send), email one of
    TASK_CALLER_EMAILS. Without configured callers (the local stack) there is nothing to check.
    """
    allowed = settings().task_caller_emails
    if not allowed:
        return
    from google.auth.exceptions import TransportError
    from google.oauth2 import id_token

    token = _bearer(request)
    if not token:
        raise errors.Unauthenticated("an OIDC token is required")
    try:
        claims = id_token.verify_token(
            token, _google_request(), audience=function_url,
            certs_url=settings().google_certs_uri,
        )
    except TransportError:
        # Google's certificates could not be fetched: a 503 makes Cloud Tasks retry later.
        raise errors.UpstreamUnavailable("cannot verify the caller's token right now") from None
    except ValueError:
        raise errors.Unauthenticated("the OIDC token is invalid or expired") from None
    if claims.get("iss") not in ("accounts.google.com", "https://accounts.google.com"):
        raise errors.Unauthenticated("the OIDC token was not issued by Google")
    if not claims.get("email_verified") or claims.get("email") not in allowed:
        raise errors.Forbidden("this caller may not run tasks")


@functools.cache
def _google_request():
    from google.auth.transport import requests as google_requests

    return google_requests.Request()
