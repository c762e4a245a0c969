import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import DomainError
from otc.services import REJECTION_CODES, order_reject

from ._operator import command_actor


class Command(BaseCommand):
    help = "Reject an order with a reason code and message (a buy's EUR is refunded)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("order_id", type=uuid.UUID)
        parser.add_argument("--reason", required=True)
        parser.add_argument(
            "--code",
            default="OTHER",
            choices=list(REJECTION_CODES),
            help="Machine-readable reason code the customer sees (default OTHER).",
        )
        parser.add_argument("--operator", help="Staff username to act as.")

    def handle(self, *args, **options) -> None:
        try:
            order = order_reject(
                order_id=options["order_id"],
                reason=options["reason"],
                code=options["code"],
                actor=command_actor(options["operator"]),
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"{order.pk} {order.status}")
