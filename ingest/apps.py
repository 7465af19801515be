from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Call ingestion API"

    def ready(self) -> None:
        # Registers the X-Api-Key security scheme with drf-spectacular.
        from ingest import schema  # noqa: F401
