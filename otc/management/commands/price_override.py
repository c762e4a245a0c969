from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts import money
from accounts.errors import DomainError
from otc.services import price_override_clear, price_override_set

from ._operator import command_actor


class Command(BaseCommand):
    help = (
        "Pin a pair's mid for every process (the operator's tool when the feed misbehaves): "
        "price_override EUR/USDC 1.0812 [--minutes 30], or price_override EUR/USDC --clear."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("pair", help='e.g. "EUR/USDC"')
        parser.add_argument("rate", nargs="?", help="The mid, quote per base (USDC per EUR).")
        parser.add_argument("--minutes", type=int, help="Expire after N minutes (1-1440).")
        parser.add_argument("--clear", action="store_true", help="Unpin the manual price.")
        parser.add_argument("--operator", help="Staff username to act as.")

    def handle(self, *args, **options) -> None:
        actor = command_actor(options["operator"])
        try:
            if options["clear"]:
                if options["rate"]:
                    raise CommandError("Give a rate or --clear, not both.")
                was_set = price_override_clear(pair_code=options["pair"], actor=actor)
                self.stdout.write(
                    f"{options['pair'].upper()} cleared" if was_set else "nothing was pinned"
                )
                return
            if not options["rate"]:
                raise CommandError("Give the rate to pin, or --clear.")
            try:
                rate = Decimal(options["rate"])
            except InvalidOperation:
                raise CommandError(f"{options['rate']!r} is not a rate.") from None
            override = price_override_set(
                pair_code=options["pair"], rate=rate, minutes=options["minutes"], actor=actor
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        until = override.expires_at.isoformat() if override.expires_at else "cleared"
        self.stdout.write(
            f"{override.pair} pinned at {money.format_rate(override.rate)} until {until}"
        )
