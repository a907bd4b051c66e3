# Once the stored generated full-text column of bookrec_book (a models.GeneratedField, which
# Django 4.2 lacks). The full-text documents now live in bookrec_document (0004), which drops
# the column where this migration had made it; new databases never get it.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bookrec', '0002_embedding_storage_main'),
    ]

    operations = []
