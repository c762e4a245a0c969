from django.apps import AppConfig


class OtcConfig(AppConfig):
    name = "otc"
    verbose_name = "OTC exchanges"

    def ready(self) -> None:
        from . import caching

        caching.connect()
