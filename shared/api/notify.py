"""HTTP routes of the notify function (functions/notify/main.py dispatches here).

Task routes are called by Cloud Tasks (booking changes, emails, reminders) and Cloud Scheduler
(the reminder sweep). In the cloud the function is private, IAM checks their OIDC tokens, and
the router checks the token's identity again (shared/web/auth.require_task_caller); the routes
also refuse requests that did not come through a queue or a scheduler job. A task route answers
2xx when done or not worth retrying, 4xx for a malformed task, 5xx to be retried.

The preview pages render every email for a sample booking, for review and the mail sink.
"""

from __future__ import annotations

from flask import Request, Response

from shared import errors
from shared.web.http import Router, parse_model, read_json

router = Router("notify")


@router.page_errors
def _error_page(request: Request, exc: errors.AppError) -> Response:
    from shared.web.pages import error_page

    return error_page(request, exc)


def _require_queue(request: Request) -> None:
    if not request.headers.get("X-CloudTasks-QueueName"):
        raise errors.Forbidden("only Cloud Tasks may call this route", code="not_a_task")


@router.task("/tasks/booking-changed")
def booking_changed_task(request: Request) -> dict:
    from shared.services import notifications

    _require_queue(request)
    change = notifications.parse_change(read_json(request))
    return {"status": "fanned_out", "emails": notifications.fan_out(change)}


@router.task("/tasks/email")
def email_task(request: Request) -> dict:
    from shared.services import notifications

    _require_queue(request)
    task = notifications.parse_task(read_json(request))
    return {"status": notifications.send(task)}


@router.task("/tasks/reminder")
def reminder_task(request: Request) -> dict:
    from shared.services import reminders

    _require_queue(request)
    task = parse_model(reminders.ReminderTask, read_json(request))
    return {"status": reminders.fire(task.booking_id, task.sequence, task.kind, task.minutes)}


@router.task("/tasks/reminder-sweep")
def reminder_sweep(request: Request) -> dict:
    from shared.services import reminders

    # Cloud Scheduler marks its requests (X-CloudScheduler, its User-Agent); a queue may run it too.
    from_scheduler = (request.headers.get("X-CloudScheduler")
                      or request.headers.get("User-Agent", "").startswith("Google-Cloud-Scheduler"))
    if not (from_scheduler or request.headers.get("X-CloudTasks-QueueName")):
        raise errors.Forbidden("only Cloud Scheduler may call this route", code="not_a_job")
    from shared.services import notifications

    return {"enqueued": reminders.sweep(), "replayed": notifications.replay_unsent()}


@router.page("/preview")
def preview_index(request: Request) -> Response:
    from shared.services import email_preview
    from shared.web.pages import page

    return page(request, "email/preview.html", emails=email_preview.catalogue())


@router.page("/preview/<kind>/<role>/<lang>")
def preview_email(request: Request, kind: str, role: str, lang: str) -> Response:
    from shared.services import email_preview

    email = email_preview.render(kind, role, lang)
    if request.args.get("format") == "text":
        return Response(email.text, mimetype="text/plain")
    if request.args.get("format") == "ics":
        if not email.attachments:
            raise errors.NotFound("this email has no calendar attachment")
        return Response(email.attachments[0].content, mimetype="text/calendar")
    return Response(email.html, mimetype="text/html", headers={
        # The email's own HTML, shown as a mail client would: no scripts, no outside requests.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "frame-ancestors 'self'",
    })
