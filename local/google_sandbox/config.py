"""Runtime configuration of the sandbox (flags > env > defaults)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_CLIENT_ID = "calbridge-local.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "calbridge-local-secret"


@dataclass
class SandboxConfig:
    client_id: str = field(
        default_factory=lambda: os.environ.get("SANDBOX_OAUTH_CLIENT_ID") or DEFAULT_CLIENT_ID
    )
    client_secret: str = field(
        default_factory=lambda: os.environ.get("SANDBOX_OAUTH_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET
    )
    access_token_ttl_seconds: int = 3600
    # Google's authorization codes live for 10 minutes.
    auth_code_ttl_seconds: int = 600
    id_token_ttl_seconds: int = 3600
    # Google's default lifetime for events watch channels is one week.
    default_channel_ttl_seconds: int = 604800
    max_channel_ttl_seconds: int = 2592000
    push_timeout_seconds: float = 2.0
    request_log_size: int = 5000
    verbose: bool = False

    @classmethod
    def from_mapping(cls, data: dict | None) -> "SandboxConfig":
        cfg = cls()
        for key, value in (data or {}).items():
            if value is None:
                continue
            if not hasattr(cfg, key):
                raise TypeError(f"unknown sandbox config key: {key}")
            setattr(cfg, key, value)
        return cfg
