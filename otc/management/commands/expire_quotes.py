from django.core.management.base import BaseCommand

from otc.models import Channel
from otc.services import Actor, quotes_expire


class Command(BaseCommand):
    help = "Run the stale-quote sweep once (Celery beat runs it every few seconds)."

    def handle(self, *args, **options) -> None:
        count = quotes_expire(actor=Actor.system("expire_quotes", channel=Channel.COMMAND))
        self.stdout.write(f"expired {count} quote(s)")
