from django.core.management.base import BaseCommand, CommandError

from accounts.errors import DomainError
from accounts.models import Customer
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Mint an API key for a customer and print it (it is shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customer", required=True, help="The customer's slug.")
        parser.add_argument(
            "--scopes",
            required=True,
            help="Comma-separated, e.g. otc-exchanges:read,otc-exchanges:write (also "
            "webhooks:read, webhooks:write, exchanges:read, exchanges:write)",
        )
        parser.add_argument("--live", action="store_true", help="An sk_live_ key.")
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, **options) -> None:
        customer = Customer.objects.filter(slug=options["customer"], is_desk=False).first()
        if customer is None:
            raise CommandError(f"No customer with slug {options['customer']!r}.")
        try:
            _, secret = api_key_create(
                customer=customer,
                scopes=options["scopes"].split(","),
                live=options["live"],
                name=options["name"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}") from None
        self.stdout.write(secret)
