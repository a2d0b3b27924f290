"""openapi.yaml stays true: it is a valid OpenAPI document and it describes exactly the JSON
routes (api and task kinds) that the four functions serve."""

import importlib
from pathlib import Path

import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("oauth", "booking", "webhook", "notify")


def _spec() -> dict:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text())


def test_openapi_document_is_valid():
    validate(_spec())


def test_every_json_route_is_documented_and_nothing_else():
    served = set()
    for fn in FUNCTIONS:
        router = importlib.import_module(f"shared.api.{fn}").router
        served |= {(path, method.lower()) for path, method in router.json_routes()}
    documented = {
        (path, method)
        for path, ops in _spec()["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert served - documented == set(), "routes missing from openapi.yaml"
    assert documented - served == set(), "openapi.yaml documents routes nobody serves"
