"""The vector column as the database has it, and changing its width without hand-written SQL."""

from django.db import connection, transaction

from bookrec.models import Book, EmbeddingStatus

VECTOR_COLUMN = "embedding"


def pgvector_version():
    """The installed ``vector`` extension's version, or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return row[0] if row else None


def column_attribute(attribute):
    """``attribute`` of the vector column in ``pg_attribute``, or None if the table is not there."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.{attribute} FROM pg_attribute a"
            " WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND NOT a.attisdropped",
            [Book._meta.db_table, VECTOR_COLUMN],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def column_dimensions():
    """Width of the embedding column in the database, or None if the table is not there."""
    return column_attribute("atttypmod")


def column_storage():
    """How the column is stored: 'm' (main: in the row) or 'x' (extended: TOASTed when large)."""
    return column_attribute("attstorage")


def resize_column(dimensions):
    """Set the column to ``halfvec(dimensions)``; every stored vector is dropped and its
    book marked pending (the HNSW index is rebuilt by PostgreSQL as part of the change)."""
    table = connection.ops.quote_name(Book._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A type change resets the storage to the type's default: keep vectors in the row
            # (migration 0002 says why).
            cursor.execute(
                f"ALTER TABLE {table} ALTER COLUMN {VECTOR_COLUMN} TYPE halfvec({int(dimensions)}) USING NULL,"
                f" ALTER COLUMN {VECTOR_COLUMN} SET STORAGE MAIN"
            )
        Book.objects.exclude(embedding_status=EmbeddingStatus.SKIPPED).update(
            embedding_status=EmbeddingStatus.PENDING, embedding_model="", embedded_hash="", embedding_error=""
        )
