from django.apps import AppConfig


def _order_transitioned(sender, *, order, previous_status: str, **kwargs) -> None:
    from .services import order_event_emit

    order_event_emit(order=order, previous_status=previous_status)


def _orders_transitioned(sender, *, transitions, **kwargs) -> None:
    from .services import order_events_emit

    order_events_emit(transitions=transitions)


class WebhooksConfig(AppConfig):
    name = "otc.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and events"

    def ready(self) -> None:
        # The outbox listens to the domain's transitions; the domain never imports webhooks.
        from otc.events import order_transition, orders_transition

        order_transition.connect(_order_transitioned, dispatch_uid="webhooks-outbox")
        orders_transition.connect(_orders_transitioned, dispatch_uid="webhooks-outbox-batch")
