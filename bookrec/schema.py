"""The vector column as the database has it, and changing its width without hand-written SQL;
its HNSW index, dropped and rebuilt around a first load (docs/benchmarks.md, "Ingest")."""

import time

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


# -- the HNSW index ------------------------------------------------------------------------


def hnsw_index():
    """The vector index as the model (and so the migrations) define it."""
    return next(index for index in Book._meta.indexes if index.fields == [VECTOR_COLUMN])


def index_exists():
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [connection.ops.quote_name(hnsw_index().name)])
        return cursor.fetchone()[0]


def drop_index():
    """Drop the HNSW index (if there) so that writing vectors does not also insert each one
    into the graph: about 1 ms of PostgreSQL time per vector at 1024 dims when built after
    the load, against several when kept up on every write. Queries stay correct without it
    (exact search), only slower. Returns whether there was one."""
    if not index_exists():
        return False
    with connection.schema_editor() as editor:
        editor.remove_index(Book, hnsw_index())
    return True


def build_index(maintenance_work_mem="1GB", parallel_workers=None):
    """Build the HNSW index over the vectors now stored; returns the seconds it took.

    pgvector builds fastest when the whole graph fits in ``maintenance_work_mem`` (about
    2.6 kB per 1024-dim halfvec row at m 16: 1 GB for ~350,000 books) and uses
    ``parallel_workers`` extra processes (None: PostgreSQL's own setting)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [maintenance_work_mem])
        if parallel_workers is not None:
            cursor.execute("SELECT set_config('max_parallel_maintenance_workers', %s, true)", [str(parallel_workers)])
        started = time.perf_counter()
        with connection.schema_editor(atomic=False) as editor:
            editor.add_index(Book, hnsw_index())
        return time.perf_counter() - started
