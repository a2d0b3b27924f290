"""`POST /v3/mail/send`, answering as SendGrid does."""

from __future__ import annotations

import hmac
import json
import time

from flask import Blueprint, Response, request

from .errors import error_response, status_error
from .state import get_state
from .validation import is_sandbox, validate_mail

bp = Blueprint("send_api", __name__)

UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"
# What a 429 tells the client; small so that retrying tests stay fast.
RATE_LIMIT = 600
RETRY_AFTER_SECONDS = 1


@bp.post("/v3/mail/send")
def mail_send() -> Response:
    state = get_state()
    state.count_request()
    if not _authorized(request.headers.get("Authorization", ""), state.api_key):
        return error_response(401, UNAUTHORIZED)

    latency_ms = state.faults.latency_ms
    if latency_ms:
        time.sleep(latency_ms / 1000)
    failure = state.faults.next_failure()
    if failure is not None:
        return _injected_failure(failure)

    # Reading the body enforces MAX_CONTENT_LENGTH (413, see app.py).
    try:
        payload = json.loads(request.get_data())
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return error_response(400, "Bad Request")
    errors = validate_mail(payload)
    if errors:
        return error_response(400, errors)
    if is_sandbox(payload):
        # SendGrid validates sandboxed sends and answers 200 without queueing anything.
        return _empty(200)
    message = state.store.add(payload)
    return _empty(202, {"X-Message-Id": message.id})


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(status=status, headers=headers)
    # An empty body has no type; Flask would otherwise claim text/html.
    del response.headers["Content-Type"]
    return response


def _authorized(header: str, api_key: str) -> bool:
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              api_key.encode())


def _injected_failure(status: int) -> Response:
    if status != 429:
        return status_error(status)
    reset = int(time.time()) + RETRY_AFTER_SECONDS
    return error_response(429, "too many requests", {
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset),
        "Retry-After": str(RETRY_AFTER_SECONDS),
    })
