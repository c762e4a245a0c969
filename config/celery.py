"""The Celery app: configured from Django settings (``CELERY_*``), tasks autodiscovered."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("otc", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(sender=None, **_) -> None:
    """What Django does around each request: close a connection that is broken, past
    CONN_MAX_AGE or left in a failed transaction; keep the others (the fixup's reuse setting
    leaves them open). Not for an eager task: it runs inside its caller, whose connection
    (and transaction) is the caller's business."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
