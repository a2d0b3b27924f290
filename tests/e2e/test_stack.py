"""The local stack starts and every service answers on its URL."""

import requests

from local.stack import FUNCTIONS


def test_every_service_answers(stack, urls):
    for fn in FUNCTIONS:
        response = requests.get(f"{urls[fn]}/healthz", timeout=5)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "function": fn}
    assert requests.get(f"{urls['firestore']}/", timeout=5).status_code == 200
    assert requests.get(f"{urls['google_sandbox']}/control/state", timeout=5).status_code == 200
    assert requests.get(f"{urls['mail_sink']}/api/stats", timeout=5).status_code == 200


def test_unknown_route_is_json_404(stack, urls):
    response = requests.get(f"{urls['booking']}/no/such/route", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405(stack, urls):
    response = requests.post(f"{urls['oauth']}/healthz", timeout=5)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
