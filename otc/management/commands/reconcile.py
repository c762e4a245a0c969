from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ProviderUnavailable
from otc import reconciliation


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be YYYY-MM-DD, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Reconcile the ledger and the provider transfers with the bank's and the custodian's "
        "statements for one day (the desk's time zone; today by default) and store the report."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD (default: today, desk time).")

    def handle(self, *args, **options) -> None:
        day = _day(options["date"]) if options["date"] else reconciliation.desk_today()
        try:
            report = reconciliation.reconcile(day, triggered_by="command")
        except ProviderUnavailable as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(
            f"{report.day} report {report.pk}: {report.positions} positions, "
            f"{report.matched} matched, {report.break_count} breaks"
        )
        for item in report.breaks.all():
            self.stdout.write(
                f"  {item.kind} {item.provider} {item.position} {item.reference} "
                f"ledger={item.ledger_amount} provider={item.provider_amount}: {item.detail}"
            )
