from django.core.management.base import BaseCommand

from bookrec import textsearch
from bookrec.conf import bookrec_settings


class Command(BaseCommand):
    help = (
        "Rebuild the full-text column (and its GIN index) with BOOKREC['TEXT_SEARCH_CONFIG'], "
        "after that setting changed. Rewrites the table; run ANALYZE afterwards (autovacuum will)."
    )

    def handle(self, **options):
        config = bookrec_settings.TEXT_SEARCH_CONFIG
        before = textsearch.column_configuration()
        textsearch.rebuild_search_document(config)
        self.stdout.write(f"The full-text column now uses the {config!r} configuration (was {before!r}).")
