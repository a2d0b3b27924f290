"""HTTP routes of the webhook function (functions/webhook/main.py dispatches here).

Google's push notifications arrive at POST /google/notifications; they are checked and answered
at once, and the work goes to the sync queue (POST /tasks/sync), so a slow Google API never
makes Google retry or drop a notification. POST /tasks/renew-channels is Cloud Scheduler's
hourly job. Services are imported inside the handlers to keep the cold start small.
"""

from __future__ import annotations

from flask import Request

from shared.web.http import Router, parse_model, read_json

router = Router("webhook")


@router.task("/google/notifications", internal=False)
def google_notification(request: Request):
    from shared.services import channels

    headers = {key.lower(): value for key, value in request.headers.items()}
    note = parse_model(channels.Notification, headers)
    return {"status": channels.accept_notification(note)}


@router.task("/tasks/sync")
def sync_task(request: Request):
    from shared.services import sync

    body = parse_model(sync.SyncTask, read_json(request))
    return sync.sync_calendar(body.google_account_id, body.calendar_id, push=body.push).as_dict()


@router.task("/tasks/renew-channels")
def renew_channels_task(request: Request):
    from datetime import timedelta

    from shared.services import channels

    body = parse_model(channels.RenewTask, read_json(request) if request.data else {})
    return channels.renew_expiring(within=timedelta(hours=body.within_hours))


@router.task("/tasks/stop-channel")
def stop_channel_task(request: Request):
    from shared.services import channels

    body = parse_model(channels.StopChannelTask, read_json(request))
    channels.stop_unknown(body.google_account_id, body.channel_id, body.resource_id)
    return {"status": "stopped"}
