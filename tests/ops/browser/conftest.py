"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's
live server, for the operator console's end-to-end tests."""

import pytest


@pytest.fixture
def open_tab(chromium):
    """A fresh browser context (its own cookies) per call: one per operator."""
    contexts = []

    def open_():
        context = chromium.new_context(viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
