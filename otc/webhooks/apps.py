from django.apps import AppConfig


def _order_transitioned(sender, *, order, previous_status: str, **kwargs) -> None:
    from .services import order_event_emit

    order_event_emit(order=order, previous_status=previous_status)


def _orders_status_changed(sender, *, changes, status, at, **kwargs) -> None:
    from .services import order_status_events_emit

    order_status_events_emit(changes=changes, status=status, at=at)


class WebhooksConfig(AppConfig):
    name = "otc.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and events"

    def ready(self) -> None:
        # The outbox listens to the domain's transitions; the domain never imports webhooks.
        from otc.events import order_transition, orders_status_change

        order_transition.connect(_order_transitioned, dispatch_uid="webhooks-outbox")
        orders_status_change.connect(
            _orders_status_changed, dispatch_uid="webhooks-outbox-status-batch"
        )
