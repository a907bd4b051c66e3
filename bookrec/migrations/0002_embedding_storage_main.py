# Keep vectors inside the table row instead of TOAST.

from django.db import migrations


class Migration(migrations.Migration):
    """A 1024-dimensional halfvec (2,052 bytes) is over PostgreSQL's 2 kB TOAST threshold,
    so by default it is moved out of line. The planner does not count the cost of
    fetching TOASTed values, believes a sequential scan is cheap, and skips the HNSW
    index (pgvector issue #821): 236 ms instead of a few at 20,000 books. MAIN keeps the
    vector in the row (out of line only if the row could not fit a page otherwise)."""

    dependencies = [("bookrec", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE bookrec_book ALTER COLUMN embedding SET STORAGE MAIN",
            reverse_sql="ALTER TABLE bookrec_book ALTER COLUMN embedding SET STORAGE EXTENDED",
        ),
    ]
