"""Embedding work: what to embed, calling the embedder, writing vectors back.

Called from the Celery tasks, the admin, the management commands and the shell alike.
Nothing here waits on a broker inside a web request: queueing happens after commit and
a broker failure leaves the books pending for the next sweep.
"""

import logging
from dataclasses import dataclass, field
from functools import partial

import psycopg
from django.db import DataError, connection, transaction
from django.utils import timezone
from pgvector import HalfVector
from pgvector.psycopg.halfvec import register_halfvec_info
from psycopg.types import TypeInfo

from bookrec.conf import bookrec_settings
from bookrec.documents import document_hash, document_text, has_embeddable_text
from bookrec.embedders import EmbeddingError, EmbeddingUnavailable, get_embedder
from bookrec.models import Book, EmbeddingStatus

logger = logging.getLogger(__name__)


def chunked(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- queueing ------------------------------------------------------------------------


def task_options():
    """Where bookrec's tasks go: ``CELERY_QUEUE``, or Celery's default queue."""
    return {"queue": bookrec_settings.CELERY_QUEUE} if bookrec_settings.CELERY_QUEUE else {}


def queue_embedding(book_ids, force=False):
    """Send one Celery task per ``TASK_BATCH_SIZE`` books. Returns how many were queued."""
    from bookrec.tasks import embed_books_task

    queued = 0
    options = task_options()
    for chunk in chunked(book_ids, bookrec_settings.TASK_BATCH_SIZE):
        try:
            embed_books_task.apply_async(args=[chunk], kwargs={"force": force}, **options)
        except Exception:  # the broker is down: the books stay pending for the next sweep
            logger.exception("Could not queue embedding of %d books; they stay pending.", len(chunk))
            break
        queued += len(chunk)
    return queued


def queue_embedding_on_commit(book_ids, force=False):
    """Queue after the surrounding transaction commits, so the worker sees the rows."""
    transaction.on_commit(partial(queue_embedding, list(book_ids), force))


def has_current_vector(book, model_name):
    return (
        book.embedding_status == EmbeddingStatus.EMBEDDED
        and book.embedding_model == model_name
        and book.embedded_hash == book.content_hash
    )


EMBEDDING_INPUT_FIELDS = [
    "id", "title", "author", "summary", "language", "subjects", "year",
    "content_hash", "embedding_status", "embedding_model", "embedded_hash",
]


def mark_for_embedding(queryset):
    """Refresh these books' content hashes and mark pending those without a current vector
    (books with one keep serving it until the new one is written; books without a summary
    become skipped). Returns the ids of the books with text to embed."""
    model_name = get_embedder().model_name
    with_text, stale, skipped = [], [], []
    for book in queryset.only(*EMBEDDING_INPUT_FIELDS):
        if not has_embeddable_text(book):
            skipped.append(book.pk)
            continue
        book.content_hash = document_hash(document_text(book))
        with_text.append(book)
        if not has_current_vector(book, model_name):
            stale.append(book.pk)
    with transaction.atomic():
        lock_in_id_order([book.pk for book in with_text] + skipped)
        Book.objects.bulk_update(with_text, ["content_hash"], batch_size=1000)
        Book.objects.filter(pk__in=stale).update(embedding_status=EmbeddingStatus.PENDING, embedding_error="")
        # As Book.refresh_embedding_state leaves a book without text: no hash, so that
        # the save that gives it its text back marks it pending.
        Book.objects.filter(pk__in=skipped).update(
            embedding_status=EmbeddingStatus.SKIPPED, embedding=None, embedding_model="", embedded_hash="",
            content_hash="", embedded_at=None, embedding_error="",
        )
    return [book.pk for book in with_text]


def reembed(queryset, force=True):
    """Embed these books again (``force``: even those with a current vector).
    Returns how many were queued."""
    ids = mark_for_embedding(queryset)
    queue_embedding_on_commit(ids, force=force)
    return len(ids)


def reembed_stale_or_failed():
    """Queue every book that is pending, failed, or embedded by another model."""
    return reembed(Book.objects.needing_embedding(), force=False)


def queue_pending():
    """Queue books left pending (a lost message, a broker that was down)."""
    ids = list(Book.objects.filter(embedding_status=EmbeddingStatus.PENDING).values_list("pk", flat=True))
    return queue_embedding(ids)


# -- embedding -----------------------------------------------------------------------


@dataclass
class EmbeddingReport:
    embedded: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)  # id -> reason
    discarded: list = field(default_factory=list)  # changed while in flight
    skipped: list = field(default_factory=list)  # already current, or no text


def embed_books(book_ids, embedder=None, force=False):
    """Embed these books in one request per batch and write the vectors back.

    Idempotent: books already embedded with the current model are left alone, unless
    ``force`` (an explicit re-embed).
    Raises ``EmbeddingUnavailable`` for transient failures (the caller retries);
    permanent failures are recorded on the books they belong to.
    """
    embedder = embedder or get_embedder()
    report = EmbeddingReport()
    todo = []
    for book in Book.objects.filter(pk__in=book_ids).only(*EMBEDDING_INPUT_FIELDS):
        if not has_embeddable_text(book) or (has_current_vector(book, embedder.model_name) and not force):
            report.skipped.append(book.pk)
        else:
            todo.append(book)
    if todo:
        _embed_isolating_failures(todo, embedder, report)
    return report


def _embed_isolating_failures(books, embedder, report):
    """One request for the batch; if the server rejects it, find the books it rejects."""
    texts = [document_text(book) for book in books]
    try:
        vectors = embedder.embed_documents(texts)
    except EmbeddingUnavailable:
        raise
    except EmbeddingError as exc:
        if len(books) == 1:
            _fail(books, str(exc), report)
            return
        middle = len(books) // 2
        _embed_isolating_failures(books[:middle], embedder, report)
        _embed_isolating_failures(books[middle:], embedder, report)
        return
    try:
        written = write_vectors(
            [(book.pk, book.content_hash, document_hash(text), vector)
             for book, text, vector in zip(books, texts, vectors) if vector is not None],
            embedder.model_name,
        )
    except DataError as exc:  # the column's width is not the embedder's (system check bookrec.W001)
        reason = (
            f"The database refused the vectors ({exc}): when the vector column's width differs "
            "from the settings, run `manage.py embed --resize-column`."
        )
        _fail(books, reason, report)
        return
    for book in books:
        (report.embedded if book.pk in written else report.discarded).append(book.pk)


def _fail(books, reason, report):
    ids = [book.pk for book in books]
    record_failure(ids, reason)
    report.failed.update(dict.fromkeys(ids, reason))


def lock_in_id_order(book_ids):
    """Lock these books' rows, in id order, for the rest of the transaction.

    Every write to many books takes its locks this way first: two writers that lock
    overlapping rows in different orders (a worker's batch is read in title order, a
    librarian's re-embed in another) deadlock, and one of them fails.
    """
    list(Book.objects.filter(pk__in=book_ids).order_by("pk").select_for_update().values_list("pk", flat=True))


def binary_vector_cursor():
    """A Django cursor (its exceptions, query logging, transaction) whose parameters are
    bound on the server, so vectors travel in pgvector's binary format: Django's own
    cursors inline them as text, and formatting 1024 floats a book cost more than the
    rest of the write."""
    connection.ensure_connection()
    # As Django's own cursors do: psycopg's errors become Django's (a lost connection is an
    # OperationalError the task retries on, and the connection is known to be broken).
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
        register_halfvec_info(cursor, TypeInfo.fetch(connection.connection, "halfvec"))
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def write_vectors(rows, model_name):
    """Write ``(id, hash_when_read, hash_embedded, vector)`` rows in one statement.

    A row whose content hash changed since it was read (edited while in flight) is not
    written: its newer text has its own task queued. Returns the ids written.
    """
    if not rows:
        return set()
    ids, read_hashes, new_hashes, vectors = zip(*rows)
    table = Book._meta.db_table
    # A savepoint, so that a refused write leaves the caller's transaction usable.
    with transaction.atomic(), binary_vector_cursor() as cursor:
        lock_in_id_order(ids)
        cursor.execute(
            f"""
            UPDATE {table} AS b
               SET embedding = v.embedding,
                   embedding_model = %s,
                   content_hash = v.new_hash,
                   embedded_hash = v.new_hash,
                   embedding_status = %s,
                   embedding_error = '',
                   embedded_at = %s
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %b::halfvec[])
                   AS v(id, read_hash, new_hash, embedding)
             WHERE b.id = v.id AND b.content_hash = v.read_hash
            RETURNING b.id
            """,
            [model_name, EmbeddingStatus.EMBEDDED, timezone.now(),
             list(ids), list(read_hashes), list(new_hashes), [HalfVector(vector) for vector in vectors]],
        )
        return {row[0] for row in cursor.fetchall()}


def record_failure(book_ids, reason):
    """Mark books failed with the reason; the "re-embed stale or failed" action retries them.
    A book that still has a current vector keeps it (and its status); the error is noted."""
    books = Book.objects.filter(pk__in=book_ids).exclude(embedding_status=EmbeddingStatus.SKIPPED)
    books.update(embedding_error=reason[:2000])
    books.exclude(embedding_status=EmbeddingStatus.EMBEDDED).update(embedding_status=EmbeddingStatus.FAILED)


def record_transient_error(book_ids, reason):
    """Note the last transient error on books still pending, while the task retries."""
    Book.objects.filter(pk__in=book_ids, embedding_status=EmbeddingStatus.PENDING).update(
        embedding_error=f"Will retry: {reason}"[:2000]
    )
