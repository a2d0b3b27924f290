"""HTTP routes of the oauth function (functions/oauth/main.py dispatches here)."""

from __future__ import annotations

from shared.web.http import Router

router = Router("oauth")
