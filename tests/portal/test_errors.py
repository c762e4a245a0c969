"""Every error code the API documents for quote, confirm, cancel and requote has a portal
sentence of its own, with its details filled in."""

import pytest

from otc.api import views as api
from otc.portal.errors import MESSAGES, describe

# Credentials and scopes do not exist in the portal: the session is the credential.
NOT_FOR_THE_PORTAL = {"UNAUTHENTICATED", "INSUFFICIENT_SCOPE"}
API_CODES = {
    code for code in (*api.QUOTE_ERRORS, *api.CONFIRM_ERRORS) if code not in NOT_FOR_THE_PORTAL
} | {"NOT_CANCELLABLE", "NOT_REQUOTABLE", "ORDER_NOT_FOUND"}


@pytest.mark.parametrize("code", sorted(API_CODES))
def test_every_api_error_code_has_a_portal_message(code):
    assert code in MESSAGES


def test_details_are_filled_in():
    problem = describe(
        "AMOUNT_OUT_OF_RANGE", details={"min": "10.00", "max": "500.00", "currency": "EUR"}
    )
    assert problem.field == "amount"
    assert problem.message == "Enter an amount between 10.00 and 500.00 EUR."
    assert describe("NOT_CANCELLABLE", details={"status": "pending_approval"}).message == (
        "This order can no longer be cancelled: it is pending approval."
    )


def test_missing_details_never_break_the_sentence():
    assert "…" in describe("SOURCE_INSUFFICIENT_FUNDS").message


def test_unknown_code_falls_back_to_the_services_sentence():
    problem = describe("SOMETHING_NEW", "The desk is closed.")
    assert (problem.field, problem.message) == (None, "The desk is closed.")
