"""Cloud Tasks: every email send and sync job is an HTTP task aimed at one of our functions.

Task names are derived from the caller's idempotency key, so enqueueing the same job twice is
answered ALREADY_EXISTS by Cloud Tasks (which we treat as success). Handlers still deduplicate
in Firestore, because delivery is at-least-once and name dedup only lasts hours.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

from shared.config import settings
from shared.logs import get_logger, log

logger = get_logger("tasks")


@functools.cache
def _client():
    from google.cloud import tasks_v2

    host = settings().tasks_emulator_host
    if host:
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        return tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(host))
        )
    return tasks_v2.CloudTasksClient()


def queue_path(queue: str) -> str:
    cfg = settings()
    return f"projects/{cfg.project}/locations/{cfg.tasks_location}/queues/{queue}"


def task_id_for(key: str) -> str:
    # Cloud Tasks ids allow [A-Za-z0-9_-] only, and sequential-looking ids hurt its sharding.
    return hashlib.sha256(key.encode()).hexdigest()


def enqueue(
    queue: str,
    url: str,
    payload: dict,
    *,
    key: str | None = None,
    schedule_at: datetime | None = None,
) -> str | None:
    """Create an HTTP POST task; returns the task name, or None when it already existed."""
    from google.api_core import exceptions
    from google.api_core import retry as retries
    from google.cloud import tasks_v2
    from google.protobuf import timestamp_pb2

    cfg = settings()
    http_request: dict = {
        "http_method": tasks_v2.HttpMethod.POST,
        "url": url,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload, separators=(",", ":")).encode(),
    }
    if cfg.tasks_invoker_email:
        target = urlsplit(url)
        http_request["oidc_token"] = {
            "service_account_email": cfg.tasks_invoker_email,
            # Cloud Run matches the audience against the service URL, which has no path.
            "audience": f"{target.scheme}://{target.netloc}",
        }
    task: dict = {"http_request": http_request}
    parent = queue_path(queue)
    if key:
        task["name"] = f"{parent}/tasks/{task_id_for(key)}"
    if schedule_at:
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(schedule_at.astimezone(timezone.utc))
        task["schedule_time"] = ts
    # A named task is idempotent, so a transient failure (UNAVAILABLE, DEADLINE_EXCEEDED) is
    # worth retrying here instead of losing the email or sync it carries; an unnamed one is not.
    retry = (
        retries.Retry(initial=0.2, maximum=2.0, multiplier=2.0, timeout=15,
                      predicate=retries.if_transient_error)
        if key else None
    )
    try:
        created = _client().create_task(parent=parent, task=task, timeout=10, retry=retry)
    except exceptions.AlreadyExists:
        log(logger, 20, "task already exists", queue=queue, task_key=key)
        return None
    return created.name

