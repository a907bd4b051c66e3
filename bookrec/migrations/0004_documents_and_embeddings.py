# bookrec's records move beside the registered objects (docs/design.md, "Host models"): the
# fingerprint and full-text document of each object in bookrec_document, its vectors (one per
# embedding space, no fixed width) in bookrec_embedding. bookrec_book's own columns are copied
# there, then dropped. No setting is read: the vector indexes are built after migrate
# (bookrec.schema, post_migrate).

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import pgvector.django.halfvec
from django.db import migrations, models


def copy_book_records(apps, schema_editor):
    """Copy what bookrec_book held about each book; vectors keep their model's name as space."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'bookrec_book' AND column_name = 'search_document'"
            " AND table_schema = current_schema()"
        )
        if cursor.fetchone() is None:  # a new database: there is nothing to copy
            return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bookrec_document (model_label, object_id, content_hash, search_document, updated_at)"
            " SELECT 'bookrec.book', id, content_hash, search_document, now() FROM bookrec_book"
        )
        cursor.execute(
            "INSERT INTO bookrec_embedding"
            " (model_label, object_id, space, embedding, embedded_hash, status, error, embedded_at)"
            " SELECT 'bookrec.book', id, embedding_model, embedding::halfvec, embedded_hash, embedding_status,"
            " embedding_error, embedded_at FROM bookrec_book WHERE embedding_model <> ''"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('bookrec', '0003_book_search_document'),
    ]

    operations = [
        migrations.CreateModel(
            name='Document',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model_label', models.CharField(help_text='The registered model, as app_label.modelname.', max_length=100)),
                ('object_id', models.BigIntegerField()),
                ('content_hash', models.CharField(blank=True, help_text='SHA-256 of the text to embed now; blank: the object has none.', max_length=64)),
                ('search_document', django.contrib.postgres.search.SearchVectorField(null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'indexes': [django.contrib.postgres.indexes.GinIndex(fields=['search_document'], name='bookrec_document_search_gin')],
                'constraints': [models.UniqueConstraint(fields=('model_label', 'object_id'), name='bookrec_document_object')],
            },
        ),
        migrations.CreateModel(
            name='Embedding',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model_label', models.CharField(help_text='The registered model, as app_label.modelname.', max_length=100)),
                ('object_id', models.BigIntegerField()),
                ('space', models.CharField(max_length=200)),
                ('embedding', pgvector.django.halfvec.HalfVectorField(null=True)),
                ('embedded_hash', models.CharField(blank=True, help_text='SHA-256 of the text the stored vector was computed from.', max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('embedded', 'Embedded'), ('failed', 'Failed'), ('skipped', 'Skipped (no text)')], db_index=True, default='pending', max_length=16)),
                ('error', models.TextField(blank=True)),
                ('embedded_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('model_label', 'object_id', 'space'), name='bookrec_embedding_object_space')],
            },
        ),
        # Keep 1024-wide vectors (2 kB) in the row, not in TOAST: migration 0002 says why.
        migrations.RunSQL(
            'ALTER TABLE bookrec_embedding ALTER COLUMN embedding SET STORAGE MAIN',
            reverse_sql=migrations.RunSQL.noop,
        ),
        # Keyword ranking reads document frequencies from PostgreSQL's statistics of this column
        # (bookrec.textsearch): the largest target keeps up to 100,000 lexemes there.
        migrations.RunSQL(
            'ALTER TABLE bookrec_document ALTER COLUMN search_document SET STATISTICS 10000',
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunPython(copy_book_records, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name='book', name='bookrec_book_embedding_hnsw'),
        migrations.RunSQL('ALTER TABLE bookrec_book DROP COLUMN IF EXISTS search_document', migrations.RunSQL.noop),
        migrations.RemoveField(model_name='book', name='content_hash'),
        migrations.RemoveField(model_name='book', name='embedded_at'),
        migrations.RemoveField(model_name='book', name='embedded_hash'),
        migrations.RemoveField(model_name='book', name='embedding'),
        migrations.RemoveField(model_name='book', name='embedding_error'),
        migrations.RemoveField(model_name='book', name='embedding_model'),
        migrations.RemoveField(model_name='book', name='embedding_status'),
    ]
