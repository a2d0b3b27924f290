"""Session fixtures: the local stack (emulators, sandbox, mail sink, the four functions) starts
once per test session on free ports, and this process gets the same environment, so tests can
call shared/ directly and the functions over HTTP against the same Firestore and Cloud Tasks.

The environment is set in pytest_configure, before any test module imports shared.config
(settings are read once per process).
"""

from __future__ import annotations

import contextlib
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


# --- browser: one headless Chromium per session (Debian's chromium driven by Playwright; its own
# browser download is not available here), a fresh context per test. One Playwright instance per
# process: its sync API cannot nest, so every browser test uses these fixtures.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@contextlib.contextmanager
def open_tab(browser, **options):
    """A tab in a fresh browser context with Playwright's context `options` (locale, viewport,
    timezone_id, ...)."""
    context = browser.new_context(**options)
    tab = context.new_page()
    tab.set_default_timeout(15000)
    try:
        yield tab
    finally:
        context.close()


PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def page(browser):
    with open_tab(browser, locale="en-US", viewport={"width": 1100, "height": 900}) as tab:
        yield tab


@pytest.fixture
def phone_page(browser):
    with open_tab(browser, locale="de-DE", **PHONE) as tab:
        yield tab
