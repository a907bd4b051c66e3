# The full-text document for keyword and hybrid ranking: a stored generated column with a
# GIN index (docs/search.md says why). Its text-search configuration comes from settings;
# `manage.py rebuild_search_document` changes it later.

import django.contrib.postgres.indexes
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import migrations, models

from bookrec.conf import bookrec_settings

CONFIG = bookrec_settings.TEXT_SEARCH_CONFIG


class Migration(migrations.Migration):

    dependencies = [
        ('bookrec', '0002_embedding_storage_main'),
    ]

    operations = [
        migrations.AddField(
            model_name='book',
            name='search_document',
            field=models.GeneratedField(
                db_persist=True,
                expression=(
                    SearchVector('title', weight='A', config=CONFIG)
                    + SearchVector('author', weight='B', config=CONFIG)
                    + SearchVector('summary', weight='C', config=CONFIG)
                ),
                output_field=SearchVectorField(),
            ),
        ),
        # Keyword ranking weighs terms by their document frequency, which it reads from
        # PostgreSQL's own statistics of this column (pg_stats.most_common_elems). The
        # largest statistics target keeps up to 100,000 lexemes there instead of 1,000.
        migrations.RunSQL(
            'ALTER TABLE bookrec_book ALTER COLUMN search_document SET STATISTICS 10000',
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name='book',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_document'], name='bookrec_book_search_gin'),
        ),
    ]
