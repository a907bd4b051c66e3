"""Embedding work: calling the embedder for registered objects and writing the vectors back.

Called from the Celery tasks, the admin, the management commands and the shell alike. It knows
nothing of Celery: ``bookrec.tasks`` sends the work to the workers.
"""

import logging
from dataclasses import dataclass, field

import django
import psycopg
from django.db import DataError, connections, transaction
from django.utils import timezone
from pgvector import HalfVector
from pgvector.psycopg.halfvec import register_halfvec_info
from psycopg.types import TypeInfo

from bookrec import indexing
from bookrec.embedders import EmbeddingConfigurationError, EmbeddingError, EmbeddingUnavailable, get_embedder
from bookrec.models import Document, Embedding, EmbeddingStatus
from bookrec.registry import document_hash

logger = logging.getLogger(__name__)


def chunked(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def mark_for_embedding(registration, queryset, *, using="default"):
    """Sync these objects' records (new text: vectors cleared, pending) and mark pending those
    without a current vector in the active space; objects with one keep serving it until the
    new one is written. Returns the pks of the objects with text to embed."""
    pks = []
    for chunk in indexing.in_chunks(queryset):
        indexing.sync_objects(registration, chunk, using=using)
        pks += [obj.pk for obj in chunk]
    with_text = list(
        Document.objects.using(using)
        .filter(model_label=registration.model_label, object_id__in=pks).exclude(content_hash="")
        .order_by("object_id").values_list("object_id", flat=True)
    )
    (
        indexing.active_embeddings(registration, using=using)
        .filter(object_id__in=with_text).exclude(status=EmbeddingStatus.EMBEDDED, embedding__isnull=False)
        .update(status=EmbeddingStatus.PENDING, error="")
    )
    return with_text


# -- embedding -----------------------------------------------------------------------


@dataclass
class EmbeddingReport:
    embedded: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)  # pk -> reason
    discarded: list = field(default_factory=list)  # changed while in flight
    skipped: list = field(default_factory=list)  # already current, no text, or gone


def embed_objects(registration, pks, embedder=None, force=False, *, using="default"):
    """Embed these objects in one request per batch and write the vectors back.

    The objects are synced first (what the worker embeds is what they say now, whatever path
    changed them). Idempotent: objects with a current vector are left alone unless ``force``.
    Raises ``EmbeddingUnavailable`` for transient failures (the caller retries); permanent
    failures are recorded on the objects they belong to.
    """
    embedder = embedder or get_embedder()
    report = EmbeddingReport()
    objects = list(registration.objects().using(using).filter(pk__in=list(pks)).order_by("pk"))
    report.skipped += sorted(set(pks) - {obj.pk for obj in objects})  # deleted meanwhile
    indexing.sync_objects(registration, objects, using=using)
    states = indexing.embedding_states(registration, [obj.pk for obj in objects], using=using)
    todo = []
    for obj in objects:
        text = registration.render(obj) if registration.has_text(obj) else ""
        state = states.get(obj.pk)
        current = state is not None and state.status == EmbeddingStatus.EMBEDDED and state.embedded_hash == document_hash(text)
        if not text or (current and not force):
            report.skipped.append(obj.pk)
        else:
            todo.append((obj.pk, text))
    if todo:
        _embed_isolating_failures(registration, todo, embedder, report, using)
    return report


def _embed_isolating_failures(registration, todo, embedder, report, using):
    """One request for the batch; if the server rejects it, find the objects it rejects."""
    try:
        vectors = embedder.embed_documents([text for _, text in todo])
    except EmbeddingUnavailable:
        raise
    except EmbeddingConfigurationError as exc:  # every text would fail alike: no bisecting
        _fail(registration, todo, str(exc), report, using)
        return
    except EmbeddingError as exc:
        if len(todo) == 1:
            _fail(registration, todo, str(exc), report, using)
            return
        middle = len(todo) // 2
        _embed_isolating_failures(registration, todo[:middle], embedder, report, using)
        _embed_isolating_failures(registration, todo[middle:], embedder, report, using)
        return
    try:
        written = write_vectors(
            registration,
            [(pk, document_hash(text), vector) for (pk, text), vector in zip(todo, vectors) if vector is not None],
            embedder.model_name, using=using,
        )
    except DataError as exc:
        _fail(registration, todo, f"The database refused the vectors: {exc}", report, using)
        return
    for pk, _ in todo:
        (report.embedded if pk in written else report.discarded).append(pk)


def _fail(registration, todo, reason, report, using):
    pks = [pk for pk, _ in todo]
    record_failure(registration, pks, reason, using=using)
    report.failed.update(dict.fromkeys(pks, reason))


def binary_vector_cursor(using="default"):
    """A Django cursor (its exceptions, query logging, transaction) whose parameters are
    bound on the server, so vectors travel in pgvector's binary format: Django's own
    cursors inline them as text, and formatting 1024 floats a book cost more than the
    rest of the write."""
    connection = connections[using]
    connection.ensure_connection()
    # As Django's own cursors do: psycopg's errors become Django's (a lost connection is an
    # OperationalError the task retries on, and the connection is known to be broken).
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
        register_halfvec_info(cursor, TypeInfo.fetch(connection.connection, "halfvec"))
    # Django 4.2's debug cursor (DEBUG=True) logs a query by rendering its parameters on the
    # client, which cannot render binary halfvecs: the write itself failed. Later Djangos log it.
    if connection.queries_logged and django.VERSION >= (5, 0):
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def write_vectors(registration, rows, space, *, using="default"):
    """Write ``(pk, text hash, vector)`` rows into ``space`` in one statement.

    A row whose object's text changed since (its document's hash is not the one embedded: it
    was edited while in flight) is not written; its newer text has its own task queued.
    Returns the pks written.
    """
    if not rows:
        return set()
    rows = sorted(rows, key=lambda row: row[0])
    pks, hashes, vectors = zip(*rows)
    documents, embeddings = indexing.table(Document, using), indexing.table(Embedding, using)
    model_label = registration.model_label
    # A savepoint, so that a refused write leaves the caller's transaction usable.
    with transaction.atomic(using=using), binary_vector_cursor(using) as cursor:
        # The documents first, in id order, as every writer locks them (bookrec.indexing).
        cursor.execute(
            f"SELECT object_id FROM {documents} WHERE model_label = %s AND object_id = ANY(%s)"
            " ORDER BY object_id FOR UPDATE",
            [model_label, list(pks)],
        )
        cursor.execute(
            f"""
            INSERT INTO {embeddings} AS e
                   (model_label, object_id, space, embedding, embedded_hash, status, error, embedded_at)
            SELECT d.model_label, d.object_id, %s, v.embedding, v.hash, %s, '', %s
              FROM unnest(%s::bigint[], %s::text[], %b::halfvec[]) AS v(id, hash, embedding)
              JOIN {documents} AS d ON d.model_label = %s AND d.object_id = v.id AND d.content_hash = v.hash
             ORDER BY d.object_id
            ON CONFLICT (model_label, object_id, space) DO UPDATE
               SET embedding = EXCLUDED.embedding, embedded_hash = EXCLUDED.embedded_hash,
                   status = EXCLUDED.status, error = '', embedded_at = EXCLUDED.embedded_at
            RETURNING e.object_id
            """,
            [space, EmbeddingStatus.EMBEDDED, timezone.now(), list(pks), list(hashes),
             [HalfVector(vector) for vector in vectors], model_label],
        )
        return {row[0] for row in cursor.fetchall()}


def record_failure(registration, pks, reason, *, using="default"):
    """Mark objects failed with the reason; the "re-embed stale or failed" action retries them.
    An object that still has a current vector keeps it (and its status); the error is noted."""
    rows = indexing.active_embeddings(registration, using=using).filter(object_id__in=list(pks)).exclude(
        status=EmbeddingStatus.SKIPPED
    )
    rows.update(error=reason[:2000])
    rows.exclude(status=EmbeddingStatus.EMBEDDED).update(status=EmbeddingStatus.FAILED)


def record_transient_error(registration, pks, reason, *, using="default"):
    """Note the last transient error on objects still pending, while the task retries."""
    indexing.active_embeddings(registration, using=using).filter(
        object_id__in=list(pks), status=EmbeddingStatus.PENDING
    ).update(error=f"Will retry: {reason}"[:2000])


def needing_embedding(registration, *, using="default"):
    """Pks of objects pending or failed in the active space (after adding the rows a new space
    lacks)."""
    indexing.without_active_vector(registration, using=using)
    return list(
        indexing.active_embeddings(registration, using=using)
        .filter(status__in=[EmbeddingStatus.PENDING, EmbeddingStatus.FAILED])
        .order_by("object_id").values_list("object_id", flat=True)
    )
