"""Secrets through one interface: Secret Manager in the cloud, environment or a JSON file locally.

Names are the Secret Manager secret ids (infra/secrets.tf); locally the same name is read from
the environment as CALBRIDGE_SECRET_<NAME upper-cased, dashes as underscores> or from the JSON
file named by SECRETS_FILE. Values are cached per process: a function instance reads each once.
"""

from __future__ import annotations

import functools
import json
import os

from shared.config import settings

OAUTH_CLIENT_SECRET = "oauth-client-secret"
SENDGRID_API_KEY = "sendgrid-api-key"
TOKEN_ENCRYPTION_KEY = "token-encryption-key"
SIGNING_KEY = "signing-key"


class MissingSecret(RuntimeError):
    pass


@functools.cache
def _secret_manager():
    from google.cloud import secretmanager

    return secretmanager.SecretManagerServiceClient()


@functools.cache
def _local_file() -> dict[str, str]:
    path = settings().secrets_file
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def get(name: str) -> str:
    cfg = settings()
    if cfg.secrets_backend == "secretmanager":
        version = f"projects/{cfg.project}/secrets/{name}/versions/latest"
        payload = _secret_manager().access_secret_version(name=version).payload.data
        return payload.decode("utf-8").strip()
    env_name = "CALBRIDGE_SECRET_" + name.upper().replace("-", "_")
    value = os.environ.get(env_name) or _local_file().get(name)
    if not value:
        raise MissingSecret(f"secret {name!r} is not set (env {env_name} or SECRETS_FILE)")
    return value
