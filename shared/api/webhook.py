"""HTTP routes of the webhook function (functions/webhook/main.py dispatches here)."""

from __future__ import annotations

from shared.web.http import Router

router = Router("webhook")
