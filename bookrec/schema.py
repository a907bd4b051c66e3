"""The vector indexes: one partial HNSW index per registered model and embedding space, over
the vectors cast to the space's width (the column itself has none, so that spaces of several
widths can stand side by side). Built by ``migrate`` (post_migrate), ``manage.py vector_index``,
and dropped and rebuilt around a first load (docs/benchmarks.md, "Ingest")."""

import hashlib
import time

from django.db import connections, transaction
from django.db.models.functions import Cast
from pgvector.django import HalfVectorField

from bookrec.conf import bookrec_settings
from bookrec.embedders import get_embedder
from bookrec.indexing import active_space, table
from bookrec.models import Embedding
from bookrec.registry import installed_registrations

VECTOR_COLUMN = "embedding"
OPERATOR_CLASS = "halfvec_cosine_ops"
# The widest halfvec pgvector's HNSW index takes (the column itself would hold 16,000).
MAX_INDEXED_DIMENSIONS = 4000


def pgvector_version(using="default"):
    """The installed ``vector`` extension's version, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return row[0] if row else None


def space_dimensions():
    return get_embedder().dimensions


def vector_expression(dimensions=None):
    """The stored vector cast to the space's width: what the index is built on, and so what
    queries must order by for PostgreSQL to use it."""
    return Cast(VECTOR_COLUMN, HalfVectorField(dimensions=dimensions or space_dimensions()))


def vector_sql(column=VECTOR_COLUMN, dimensions=None):
    """``vector_expression`` in SQL, for statements written by hand (and the index itself)."""
    return f"({column})::halfvec({int(dimensions or space_dimensions())})"


def index_name(registration, space=None):
    digest = hashlib.sha1(f"{registration.model_label}|{space or active_space()}".encode()).hexdigest()[:12]
    return f"bookrec_hnsw_{digest}"


def index_exists(registration, space=None, using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [index_name(registration, space)])
        return cursor.fetchone()[0]


def drop_index(registration, space=None, using="default"):
    """Drop the HNSW index (if there) so that writing vectors does not also insert each one
    into the graph: about 1 ms of PostgreSQL time per vector at 1024 dims when built after
    the load, against several when kept up on every write. Queries stay correct without it
    (exact search), only slower. Returns whether there was one."""
    if not index_exists(registration, space, using):
        return False
    with connections[using].cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {index_name(registration, space)}")
    return True


def build_index(registration, maintenance_work_mem="1GB", parallel_workers=None, using="default"):
    """Build the active space's HNSW index over the vectors now stored; returns the seconds it
    took (0 when it exists already).

    pgvector builds fastest when the whole graph fits in ``maintenance_work_mem`` (about
    2.6 kB per 1024-dim halfvec row at m 16: 1 GB for ~350,000 books) and uses
    ``parallel_workers`` extra processes (None: PostgreSQL's own setting)."""
    if index_exists(registration, using=using):
        return 0.0
    connection = connections[using]
    space = active_space()
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [maintenance_work_mem])
        if parallel_workers is not None:
            cursor.execute("SELECT set_config('max_parallel_maintenance_workers', %s, true)", [str(parallel_workers)])
        started = time.perf_counter()
        # Literals, not parameters: the planner matches a query to a partial index by its
        # predicate, and DDL takes no parameters anyway.
        cursor.execute(
            f"CREATE INDEX {index_name(registration)} ON {table(Embedding, using)} USING hnsw"
            f" (({vector_sql()}) {OPERATOR_CLASS})"
            f" WITH (m = {int(bookrec_settings.HNSW_M)}, ef_construction = {int(bookrec_settings.HNSW_EF_CONSTRUCTION)})"
            f" WHERE model_label = {quote_literal(registration.model_label)} AND space = {quote_literal(space)}"
        )
        return time.perf_counter() - started


def quote_literal(value):
    return "'" + value.replace("'", "''") + "'"


def build_missing_indexes(using="default", **kwargs):
    """After ``migrate``: the active space's index of every registered model, where missing
    (instant on an empty table; on a full one, as long as ``vector_index build``)."""
    if not tables_exist(using):
        return
    for registration in installed_registrations():
        build_index(registration, using=using)


def tables_exist(using="default"):
    """Whether bookrec's tables are there (migrate has run)."""
    return Embedding._meta.db_table in connections[using].introspection.table_names()
