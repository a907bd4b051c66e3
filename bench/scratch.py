"""Scratch databases for the benchmarks, on the same PostgreSQL server as the site.

Each benchmark names its database after everything that shapes the data in it, so a rerun
with the same parameters reuses it and a different parameter makes a new one. The schema
comes from the app's own migrations (run with the benchmark settings); a database is only
reused once it has been marked complete, and while the app's migrations are the ones that
made it.

A benchmark that reads or writes bookrec's records in its own process sets Django up on its
scratch database (``use_database``) and asks the app for what names them (the content type,
the active space, the index).
"""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "bookrec" / "migrations"


def server_url():
    """The server the site uses: DATABASE_URL, else the embedded PostgreSQL (started here)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    from library_site import embedded_postgres

    return embedded_postgres.start()


def database_url(server, name):
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def connect(url, **kwargs):
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), **kwargs)


def bench_env(url, **extra):
    """Environment for a process of the site (migrate, gunicorn, Celery) on ``url``."""
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings", **extra}


def schema_digest():
    """A fingerprint of the app's migrations: a database made by other ones is not reused."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("[0-9]*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def is_complete(server, name):
    """Whether the database exists, was marked complete, and by the app's current migrations."""
    with connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
    with connect(database_url(server, name)) as conn:
        if not conn.execute("SELECT to_regclass('bench_complete') IS NOT NULL").fetchone()[0]:
            return False
        row = conn.execute("SELECT value FROM bench_complete WHERE name = 'schema'").fetchone()
    return row is not None and row[0] == schema_digest()


def use_database(url):
    """Set Django up in this process, with the benchmark settings, on ``url`` (once)."""
    import django
    from django.conf import settings

    if settings.configured:
        if settings.DATABASES["default"]["NAME"] != urlsplit(url).path.lstrip("/"):
            raise RuntimeError(f"Django is already set up on another database than {url}")
        return
    os.environ.update(bench_env(url))
    django.setup()


def book_registration():
    from bookrec.models import Book
    from bookrec.registry import registration_for

    return registration_for(Book)


def hnsw_index():
    """The name of the app's HNSW index of the books' vectors in the active space."""
    from bookrec import schema

    return schema.index_name(book_registration())


def vectors_query(subjects=False):
    """SQL and parameters of the app's own current vectors of the books (``object_id``,
    ``embedding``[, the book's ``subjects``]), by id: what recommendations search."""
    from django.db.models import OuterRef, Subquery

    from bookrec.models import Book
    from bookrec.recommendations import current_vectors

    rows = current_vectors(book_registration())
    columns = ["object_id", "embedding"]
    if subjects:
        rows = rows.annotate(subjects=Subquery(Book.objects.filter(pk=OuterRef("object_id")).values("subjects")[:1]))
        columns.append("subjects")
    return rows.order_by("object_id").values_list(*columns).query.sql_with_params()


def recreate(server, name, env=None):
    """An empty database with the app's schema; returns its URL."""
    with connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(server, name)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT, env=bench_env(url, **(env or {})), check=True,
    )
    return url


def mark_complete(url, **facts):
    with connect(url) as conn:
        conn.execute("CREATE TABLE bench_complete (name text PRIMARY KEY, value text)")
        for key, value in {**facts, "schema": schema_digest()}.items():
            conn.execute("INSERT INTO bench_complete VALUES (%s, %s)", [key, str(value)])


def facts(url):
    with connect(url) as conn:
        return dict(conn.execute("SELECT name, value FROM bench_complete").fetchall())


def unit_vectors(conn, query, params=(), extra_columns=0):
    """Run ``query`` (id, embedding[, extra columns ...], ordered by id) and return the ids, the
    vectors as unit float32 rows and the extra columns' values; streamed into one preallocated
    matrix, so that a million 1024-dim vectors take 4 GB, not three times that on the way."""
    import numpy as np
    from pgvector.psycopg import register_vector

    register_vector(conn)
    count = conn.execute(f"SELECT count(*) FROM ({query}) AS q", params).fetchone()[0]
    ids, matrix, extras = np.empty(count, dtype=np.int64), None, [[] for _ in range(extra_columns)]
    with conn.cursor(binary=True) as cursor:
        for index, row in enumerate(cursor.stream(query, params)):
            vector = row[1].to_numpy()
            if matrix is None:
                matrix = np.empty((count, len(vector)), dtype=np.float32)
            ids[index], matrix[index] = row[0], vector
            for column, value in zip(extras, row[2:]):
                column.append(value)
    if matrix is None:
        matrix = np.empty((0, 0), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return ids, matrix, extras


def build_index(conn, definition, maintenance_work_mem="4GB", workers=2):
    """Run ``definition`` with enough memory for the graph to be built in it; returns seconds."""
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem)))
    conn.execute(sql.SQL("SET max_parallel_maintenance_workers = {}").format(sql.Literal(workers)))
    started = time.perf_counter()
    conn.execute(definition)
    return time.perf_counter() - started


def relation_bytes(conn, name):
    return conn.execute("SELECT pg_relation_size(to_regclass(%s))", [name]).fetchone()[0]


def server_facts(url):
    """What about the server shapes the figures: versions and the memory it caches pages in."""
    with connect(url) as conn:
        return {
            "postgres": conn.execute("SHOW server_version").fetchone()[0],
            "pgvector": conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0],
            "shared_buffers": conn.execute("SHOW shared_buffers").fetchone()[0],
        }
