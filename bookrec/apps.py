from django.apps import AppConfig


class BookrecConfig(AppConfig):
    name = "bookrec"
    verbose_name = "Book recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from bookrec import checks  # noqa: F401  (registers the system checks)
