"""The project's Celery app for a worker started by the tests: the same configuration, but
the broker hands back unacknowledged messages after 3 s instead of an hour, so a test can
see a killed worker's delivery finished by its successor without waiting that long."""

from config.celery import app

app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,  # the run's key prefix
    "visibility_timeout": 3,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

__all__ = ["app"]
