"""Offline checks of infra/: formatting, checkov, the provider schema, and that the Terraform
wiring matches what the code reads (settings, secrets, functions). Terraform cannot download
providers here, so nothing runs `terraform init/validate/plan`."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from tools import check_terraform_schema, package_functions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CHECKOV = ROOT / ".local" / "checkov-venv" / "bin" / "checkov"
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9]+_\d+)(?::(.*))?")

# Settings that exist only for the local stack (emulator/sandbox endpoints) or have production
# defaults in shared/config.py; Terraform deliberately leaves them unset.
LOCAL_OR_DEFAULTED = {
    "CLOUD_TASKS_EMULATOR_HOST",
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_CERTS_URI",
    "GOOGLE_CALENDAR_ENDPOINT",
    "SENDGRID_HOST",
    "SECRETS_FILE",
    "GOOGLE_HTTP_TIMEOUT",
    "SESSION_MAX_AGE",
}


def _load(name: str) -> dict:
    with (INFRA / name).open(encoding="utf-8") as fh:
        return hcl2.load(fh)


def _locals(name: str) -> dict:
    merged: dict = {}
    for block in _load(name).get("locals", []):
        merged.update(block)
    return merged


def _unquote(value: str) -> str:
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def test_terraform_fmt():
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed (https://developer.hashicorp.com/terraform/install)"
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive infra/`:\n{result.stdout}"


def test_checkov_has_no_unexplained_failures():
    assert CHECKOV.exists(), "checkov is missing: run `make setup` (it installs .local/checkov-venv)"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--framework", "terraform", "--skip-download",
         "--output", "json", "--compact"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed, skipped, passed = [], [], 0
    for report in reports:
        results = report.get("results", {})
        failed += results.get("failed_checks", [])
        skipped += results.get("skipped_checks", [])
        passed += len(results.get("passed_checks", []))
    assert passed > 0, "checkov checked nothing: is infra/ empty?"
    assert not failed, "checkov failures (fix them or skip inline with a reason):\n" + "\n".join(
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}: {c['check_name']}"
        for c in failed
    )
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.strip()) >= 20 and reason != "No comment provided", (
            f"{check['check_id']} on {check['resource']} is skipped without a written reason"
        )


def test_every_inline_checkov_skip_states_a_reason():
    for path in sorted(INFRA.glob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = SKIP_COMMENT.search(line)
            if match:
                reason = (match.group(2) or "").strip()
                assert len(reason) >= 20, f"{path.name}:{number}: skip of {match.group(1)} needs a reason"


def test_infra_matches_google_provider_schema():
    assert check_terraform_schema.DEFAULT_SCHEMA.exists(), "the offline provider schema is missing"
    problems = check_terraform_schema.check_directory(INFRA)
    assert not problems, "\n".join(map(str, problems))


def test_schema_check_catches_mistakes(tmp_path):
    (tmp_path / "bad.tf").write_text(
        'resource "google_cloud_tasks_queue" "q" {\n'
        '  name = "q"\n'
        "  retry_config {\n    max_attemptz = 3\n  }\n"
        "}\n"
        'resource "google_secret_manager_secret" "s" {\n  secret_id = "s"\n  name = "x"\n}\n'
        'resource "google_cloud_scheduler_job" "j" {\n  name = "j"\n  http_target = { uri = "u" }\n}\n'
        'resource "google_made_up" "m" {}\n',
        encoding="utf-8",
    )
    messages = {f"{p.where}: {p.message}" for p in check_terraform_schema.check_directory(tmp_path)}
    assert messages == {
        "google_cloud_tasks_queue.q: required argument 'location' is missing",
        "google_cloud_tasks_queue.q.retry_config: unknown argument or block 'max_attemptz'",
        "google_secret_manager_secret.s: 'name' is computed-only, cannot be set",
        "google_secret_manager_secret.s: required block 'replication' is missing",
        "google_cloud_scheduler_job.j: 'http_target' is a block, written as an argument",
        "google_made_up.m: unknown resource type 'google_made_up'",
    }


def test_google_provider_pinned_to_the_checked_schema():
    schema = json.loads(check_terraform_schema.DEFAULT_SCHEMA.read_text(encoding="utf-8"))
    major, minor, _ = schema["version"].split(".")
    providers = _load("versions.tf")["terraform"][0]["required_providers"][0]
    assert _unquote(providers["google"]["version"]) == f"~> {major}.{minor}.0"
    for name, spec in providers.items():
        if name.startswith("__"):
            continue
        assert _unquote(spec["version"]).startswith("~> "), f"provider {name} is not pinned"


def test_functions_match_the_repository_and_the_packaging_tool():
    declared = set(_locals("main.tf")["functions"])
    on_disk = {p.parent.name for p in (ROOT / "functions").glob("*/main.py")}
    assert declared == on_disk == set(package_functions.FUNCTIONS)


def test_every_cloud_setting_is_wired():
    """A setting added to shared/config.py must reach the functions, or be declared local-only."""
    read = set(re.findall(r'_env\(\s*"([A-Z0-9_]+)"', (ROOT / "shared" / "config.py").read_text()))
    wired = set(_locals("functions.tf")["function_environment"])
    assert wired - read == set(), "functions.tf sets variables that shared/config.py never reads"
    assert read - wired - LOCAL_OR_DEFAULTED == set(), "settings that Terraform does not set"
    assert _unquote(_locals("functions.tf")["function_environment"]["SECRETS_BACKEND"]) == "secretmanager"


def test_instances_serve_as_many_requests_as_functions_framework_has_threads():
    functions = (INFRA / "functions.tf").read_text(encoding="utf-8")
    assert "max_instance_request_concurrency = var.function_concurrency" in functions
    threads = _locals("functions.tf")["framework_environment"]["THREADS"]
    assert "var.function_concurrency" in threads


def test_every_secret_exists_and_is_granted_only_where_read():
    secret_ids = set(re.findall(r'^[A-Z_]+ = "([a-z0-9-]+)"$',
                                (ROOT / "shared" / "secrets.py").read_text(), re.MULTILINE))
    declared = _locals("secrets.tf")
    assert set(declared["secrets"]) == secret_ids
    readers = {fn: {_unquote(s) for s in ids} for fn, ids in declared["secret_readers"].items()}
    assert set(readers) == set(package_functions.FUNCTIONS)
    assert set().union(*readers.values()) == secret_ids, "a secret that no function may read"
    assert "sendgrid-api-key" not in readers["oauth"] | readers["booking"] | readers["webhook"]


def test_only_browser_and_push_facing_functions_are_public():
    functions = _locals("main.tf")["functions"]
    public = {name for name, spec in functions.items() if spec["public"] is True}
    assert public == {"oauth", "booking", "webhook"}
    iam = (INFRA / "iam.tf").read_text(encoding="utf-8")
    assert iam.count('"allUsers"') == 1, "allUsers must be granted in exactly one, filtered place"
    assert "allAuthenticatedUsers" not in iam


def test_scheduler_jobs_call_existing_post_routes():
    for job, spec in _locals("scheduler.tf")["scheduled_jobs"].items():
        function, path = _unquote(spec["function"]), _unquote(spec["path"])
        router = importlib.import_module(f"shared.api.{function}").router
        assert (path, "POST") in {(p, m.upper()) for p, m in router.json_routes()}, (
            f"scheduler job {job} posts to {function}{path}, which the function does not serve"
        )
