from django.core.management.base import BaseCommand

from accounts.providers import set_simulated_outage, simulated_outage


class Command(BaseCommand):
    help = "Switch a simulated provider's outage on or off for every process (demo, tests)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("provider", choices=["custody", "fiat"])
        parser.add_argument("state", choices=["on", "off"])

    def handle(self, *args, **options) -> None:
        set_simulated_outage(options["provider"], options["state"] == "on")
        state = "down" if simulated_outage(options["provider"]) else "up"
        self.stdout.write(f"{options['provider']} is {state}")
