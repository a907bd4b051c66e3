from django.core.management.base import BaseCommand

from bookrec import indexing, textsearch
from bookrec.conf import bookrec_settings
from bookrec.registry import installed_registrations


class Command(BaseCommand):
    help = (
        "Write every registered object's full-text document again with BOOKREC['TEXT_SEARCH_CONFIG'], "
        "after that setting changed or after an upgrade that changed how text is analysed (vectors are "
        "kept). Run ANALYZE afterwards (autovacuum will)."
    )

    def handle(self, **options):
        for registration in installed_registrations():
            written = indexing.rewrite_search_documents(registration)
            self.stdout.write(
                f"{registration.label}: {written} full-text documents written with the "
                f"{bookrec_settings.TEXT_SEARCH_CONFIG!r} configuration."
            )
        textsearch.forget_statistics()
