"""Structured JSON logs that Cloud Logging parses (severity, message, trace), one line each.

Secrets never reach a log line: callers log ids, never tokens, keys or email bodies, and
`redact` masks the values of keys that look secret in the extra fields.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from datetime import datetime, timezone

from shared.config import settings

_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
_SECRET_HINTS = ("token", "secret", "password", "key", "authorization", "cookie", "code_verifier")


def redact(fields: dict) -> dict:
    return {
        k: ("[redacted]" if any(h in k.lower() for h in _SECRET_HINTS) else v)
        for k, v in fields.items()
    }


def bind_trace(header_value: str | None) -> None:
    """Bind the trace of X-Cloud-Trace-Context ("TRACE_ID/SPAN;o=1") to this request's logs."""
    trace_id = (header_value or "").split("/", 1)[0].strip()
    _trace.set(f"projects/{settings().project}/traces/{trace_id}" if trace_id else None)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "logger": record.name,
        }
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(redact(fields))
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _configure() -> None:
    root = logging.getLogger("calbridge")
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonFormatter())
    root.addHandler(handler)
    root.setLevel(os.environ.get("CALBRIDGE_LOG_LEVEL", "INFO").upper())
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    _configure()
    return logging.getLogger(f"calbridge.{name}")


def log(logger: logging.Logger, level: int, message: str, **fields) -> None:
    logger.log(level, message, extra={"fields": fields})
