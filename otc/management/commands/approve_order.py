import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts import money
from accounts.errors import DomainError
from otc.models import Status
from otc.services import order_approve

from ._operator import command_actor


class Command(BaseCommand):
    help = "Approve an order at the live rate (the service the operator console calls)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("order_id", type=uuid.UUID)
        parser.add_argument("--operator", help="Staff username to act as.")

    def handle(self, *args, **options) -> None:
        try:
            order = order_approve(
                order_id=options["order_id"], actor=command_actor(options["operator"])
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        if order.status == Status.PRICE_REVIEW:  # beyond the customer's slippage limit
            currency = order.destination_currency
            amount = money.format_amount(order.review_destination_amount, currency)
            self.stdout.write(
                f"{order.pk} {order.status} rate={money.format_rate(order.review_rate)} "
                f"destinationAmount={amount} awaits the customer's consent"
            )
            return
        if order.final_rate is None:  # the first of a four-eyes pair: recorded, still pending
            self.stdout.write(f"{order.pk} {order.status} first approval recorded")
            return
        self.stdout.write(
            f"{order.pk} {order.status} rate={money.format_rate(order.final_rate)} "
            f"destinationAmount="
            f"{money.format_amount(order.final_destination_amount, order.destination_currency)}"
        )
