from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BookrecConfig(AppConfig):
    name = "bookrec"
    verbose_name = "Book recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from bookrec import checks, schema, signals  # noqa: F401  (checks registers the system checks)

        signals.connect()
        post_migrate.connect(schema.build_missing_indexes, sender=self)
