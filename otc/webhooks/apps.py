from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "otc.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and events"
