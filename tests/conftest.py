"""Session fixtures: the local stack (emulators, sandbox, mail sink, the four functions) starts
once per test session on free ports, and this process gets the same environment, so tests can
call shared/ directly and the functions over HTTP against the same Firestore and Cloud Tasks.

The environment is set in pytest_configure, before any test module imports shared.config
(settings are read once per process).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from local.stack import Stack, StackError

_stack: Stack | None = None


def pytest_configure(config):
    global _stack
    log_dir = Path(tempfile.mkdtemp(prefix="calbridge-stack-"))
    _stack = Stack(random_ports=True, log_dir=log_dir)
    os.environ.update(_stack.env())
    config._calbridge_stack = _stack


def _check_tools() -> None:
    missing = []
    if not shutil.which("java"):
        missing.append("java (the Firestore emulator needs Java 11+: apt-get install openjdk-17-jre-headless)")
    if not shutil.which("gcloud"):
        missing.append("gcloud with the Firestore emulator (install the Google Cloud CLI, then "
                       "`gcloud components install cloud-firestore-emulator` or "
                       "`apt-get install google-cloud-cli-firestore-emulator`)")
    if missing:
        pytest.fail("cannot start the local stack; missing: " + "; ".join(missing), pytrace=False)


@pytest.fixture(scope="session")
def stack():
    _check_tools()
    try:
        _stack.start()
    except StackError as exc:
        _stack.stop()
        pytest.fail(f"the local stack did not start: {exc}", pytrace=False)
    yield _stack
    _stack.stop()


@pytest.fixture(scope="session")
def urls(stack) -> dict[str, str]:
    return stack.urls
