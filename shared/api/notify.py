"""HTTP routes of the notify function (functions/notify/main.py dispatches here)."""

from __future__ import annotations

from shared.web.http import Router

router = Router("notify")
