"""One mail sink for these tests, served on a thread on a free port and reset before each test."""

from __future__ import annotations

import pytest
import requests
from sendgrid import SendGridAPIClient

from local.mail_sink import SinkServer, serve

API_KEY = "SG.test-key"


@pytest.fixture(scope="session")
def sink_server() -> SinkServer:
    server = serve("127.0.0.1", 0, api_key=API_KEY)
    yield server
    server.shutdown()


@pytest.fixture
def sink(sink_server: SinkServer) -> SinkServer:
    requests.post(f"{sink_server.url}/control/reset", timeout=5).raise_for_status()
    return sink_server


@pytest.fixture
def sendgrid_client(sink: SinkServer) -> SendGridAPIClient:
    return SendGridAPIClient(API_KEY, host=sink.url)


@pytest.fixture
def post_mail(sink: SinkServer):
    """Posts a raw payload (dict, or str/bytes sent as is) to /v3/mail/send with the right key."""

    def post(payload, api_key: str = API_KEY) -> requests.Response:
        headers = {"Authorization": f"Bearer {api_key}"}
        if isinstance(payload, (str, bytes)):
            return requests.post(f"{sink.url}/v3/mail/send", data=payload,
                                 headers={**headers, "Content-Type": "application/json"},
                                 timeout=30)
        return requests.post(f"{sink.url}/v3/mail/send", json=payload, headers=headers, timeout=30)

    return post


@pytest.fixture
def make_mail():
    """Builds the smallest payload SendGrid accepts, top-level keys replaced by keyword args."""

    def make(**overrides) -> dict:
        return {
            "personalizations": [{"to": [{"email": "guest@example.com", "name": "Guest"}]}],
            "from": {"email": "bookings@calbridge.test", "name": "calbridge"},
            "subject": "Your booking",
            "content": [{"type": "text/plain", "value": "See you soon."}],
            **overrides,
        }

    return make
