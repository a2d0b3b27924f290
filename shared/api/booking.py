"""HTTP routes of the booking function (functions/booking/main.py dispatches here)."""

from __future__ import annotations

from shared.web.http import Router

router = Router("booking")
