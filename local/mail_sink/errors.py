"""Error responses in SendGrid's shape: {"errors": [{"message", "field", "help"}]}."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Iterable, Mapping

from flask import Response

from .validation import FieldError


def error_response(
    status: int,
    errors: str | Iterable[FieldError],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error; a bare string becomes a single error without field or help, as SendGrid's
    non-validation errors are."""
    if isinstance(errors, str):
        errors = [FieldError(errors, None, None)]
    # Compact and without a trailing newline: byte for byte what SendGrid sends.
    body = json.dumps({"errors": [e.as_dict() for e in errors]}, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json", headers=headers)


def status_error(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An error whose message is just the status's reason phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a fault plan may name any 4xx/5xx, registered or not
        phrase = "Error"
    return error_response(status, phrase, headers)
