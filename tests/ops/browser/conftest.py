"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's
live server, for the operator console's end-to-end tests."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# (fixtures, assertions) would otherwise be refused as "async unsafe".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


# Module scope, not session: one sync Playwright may run per thread at a time, so this one
# stops before another suite's browser fixture starts (tests/ops runs before tests/portal).
@pytest.fixture(scope="module")
def ops_chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_tab(ops_chromium):
    """A fresh browser context (its own cookies) per call: one per operator."""
    contexts = []

    def open_():
        context = ops_chromium.new_context(viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
