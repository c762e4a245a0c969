"""Shared by the portal's and the console's phone-width browser tests."""

from pathlib import Path

PHONE = {"width": 390, "height": 844}


def phone_tab(chromium, locale: str = "en-US"):
    """A fresh tab the size of a phone (its own cookies), in ``locale``."""
    context = chromium.new_context(viewport=PHONE, locale=locale, device_scale_factor=1)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def assert_fits(page, name: str, artifacts: Path) -> None:
    """No sideways scrolling: the document is no wider than the phone. A screenshot of the
    whole page is kept either way."""
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(artifacts / f"phone-{name}.png"), full_page=True)
    assert width <= PHONE["width"], f"{name} is {width} px wide at {PHONE['width']} px"
