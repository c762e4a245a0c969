"""The project's exception hierarchy. Services raise these; the API's exception handler turns
them into the contract's envelope and the web views into form messages."""

from typing import Any


class DomainError(Exception):
    code = "DOMAIN_ERROR"
    status = 422
    message = "The request cannot be carried out."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"
    message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"


class ProviderUnavailable(DomainError):
    """An upstream provider (bank, custody, market) did not answer. Retryable."""

    status = 502
    code = "PROVIDER_UNAVAILABLE"
    message = "An upstream provider is unavailable; try again shortly."


class InsufficientFunds(DomainError):
    """A ledger account would go below zero. The account's code is internal (it names ledger
    accounts such as ``wallet:<id>`` or ``clearing:EUR``): it is kept on ``account_code`` for
    logs and callers, never in ``details``, which surfaces show to customers."""

    code = "INSUFFICIENT_FUNDS"
    message = "The balance is too low for this movement."

    def __init__(self, message: str | None = None, *, account_code: str = "", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.account_code = account_code


def error(code: str, status: int, message: str, /, **details: Any) -> DomainError:
    """Build a one-off domain error with a contract code."""
    return DomainError(message, code=code, status=status, details=details or None)
