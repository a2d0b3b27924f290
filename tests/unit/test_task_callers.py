"""Task routes accept only configured OIDC identities once TASK_CALLER_EMAILS is set."""

import dataclasses

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from shared import errors
from shared.config import settings
from shared.web import auth

TASKS = "calbridge-tasks@p.iam.gserviceaccount.com"


def _request(token: str | None = None) -> Request:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Request(EnvironBuilder(method="POST", path="/tasks/sync", headers=headers).get_environ())


@pytest.fixture
def callers(monkeypatch):
    configured = dataclasses.replace(settings(), task_caller_emails=(TASKS,))
    monkeypatch.setattr(auth, "settings", lambda: configured)


def _claims(monkeypatch, **claims):
    from google.oauth2 import id_token

    seen = {}

    def verify(token, request, audience, certs_url):
        seen.update(audience=audience, certs_url=certs_url)
        if token != "good":
            raise ValueError("bad signature")
        return {"iss": "https://accounts.google.com", "email_verified": True, **claims}

    monkeypatch.setattr(id_token, "verify_token", verify)
    return seen


def test_local_stack_without_configured_callers_checks_nothing():
    assert settings().task_caller_emails == ()
    auth.require_task_caller(_request(), "http://127.0.0.1:1")


def test_missing_token_is_401(callers):
    with pytest.raises(errors.Unauthenticated):
        auth.require_task_caller(_request(), "https://webhook.example")


def test_forged_token_is_401(callers, monkeypatch):
    _claims(monkeypatch, email=TASKS)
    with pytest.raises(errors.Unauthenticated):
        auth.require_task_caller(_request("forged"), "https://webhook.example")


def test_other_identity_is_403(callers, monkeypatch):
    _claims(monkeypatch, email="someone@else.iam.gserviceaccount.com")
    with pytest.raises(errors.Forbidden):
        auth.require_task_caller(_request("good"), "https://webhook.example")


def test_our_identity_with_our_audience_passes(callers, monkeypatch):
    seen = _claims(monkeypatch, email=TASKS)
    auth.require_task_caller(_request("good"), "https://webhook.example")
    assert seen["audience"] == "https://webhook.example"
