import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookrec import pipeline
from bookrec.documents import document_hash, document_text
from bookrec.embedders import EmbeddingUnavailable
from bookrec.embedders.local import LocalE5Embedder
from bookrec.models import Book, EmbeddingStatus
from tests.books import direction, embedded_book, make_book
from tests.doubles import forward_to, rejecting
from tests.processes import free_port

pytestmark = pytest.mark.django_db

SUMMARIES = [
    "Neural networks, backpropagation and training deep models.",
    "Layers, gradients and training loops for neural networks.",
    "Sauces, soups, roasts and pastry for the home cook.",
]


@pytest.fixture
def books():
    return [make_book(title=f"Book {i}", summary=summary) for i, summary in enumerate(SUMMARIES)]


@pytest.fixture
def proxied_embedder(bookrec, server_double, embedding_server):
    """The OpenAI-compatible embedder talking to the real server through a recording proxy."""
    proxy = server_double(forward_to(embedding_server))
    embedder = bookrec(
        EMBEDDING_BASE_URL=proxy.base_url, EMBEDDING_MODEL="multilingual-e5-small",
        EMBEDDING_DIMENSIONS=384, EMBEDDING_MAX_RETRIES=0,
    )
    return embedder, proxy


def updates(queries):
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]


def test_embed_books_sends_one_request_and_writes_vectors_model_and_hash_in_one_statement(books, proxied_embedder):
    embedder, proxy = proxied_embedder
    Book.objects.filter(pk=books[0].pk).update(embedding_error="Will retry: earlier failure")
    with CaptureQueriesContext(connection) as queries:
        report = pipeline.embed_books([b.pk for b in books])
    assert sorted(report.embedded) == sorted(b.pk for b in books)
    assert len(proxy.requests) == 1 and len(proxy.requests[0]["input"]) == 3
    assert len(updates(queries)) == 1
    for book in Book.objects.filter(pk__in=[b.pk for b in books]):
        assert book.embedding_status == EmbeddingStatus.EMBEDDED
        assert book.embedding_model == embedder.model_name == "multilingual-e5-small@384"
        assert book.embedded_hash == book.content_hash == document_hash(document_text(book))
        assert book.embedded_at is not None and book.embedding_error == ""
        assert np.linalg.norm(book.embedding) == pytest.approx(1.0, abs=1e-2)


def test_embed_books_is_idempotent(books, proxied_embedder):
    embedder, proxy = proxied_embedder
    ids = [b.pk for b in books]
    pipeline.embed_books(ids)
    first = {b.pk: (b.embedding, b.embedded_at) for b in Book.objects.filter(pk__in=ids)}
    report = pipeline.embed_books(ids)
    assert sorted(report.skipped) == sorted(ids) and report.embedded == []
    assert len(proxy.requests) == 1  # nothing sent the second time
    assert {b.pk: (b.embedding, b.embedded_at) for b in Book.objects.filter(pk__in=ids)} == first


def test_force_embeds_current_books_again(books, proxied_embedder):
    embedder, proxy = proxied_embedder
    ids = [b.pk for b in books]
    pipeline.embed_books(ids)
    report = pipeline.embed_books(ids, force=True)
    assert sorted(report.embedded) == sorted(ids)
    assert len(proxy.requests) == 2


def test_books_without_text_or_gone_are_skipped(bookrec):
    blank = make_book(summary="")
    report = pipeline.embed_books([blank.pk, 10**9], embedder=bookrec())
    assert report.skipped == [blank.pk] and report.embedded == []


class EditsWhileEmbedding(LocalE5Embedder):
    """The book is edited (and saved) while its request is in flight."""

    edit_book_id = None

    def _embed(self, texts, *, is_query):
        book = Book.objects.get(pk=self.edit_book_id)
        book.summary = "Rewritten while the old text was being embedded."
        book.save()
        return super()._embed(texts, is_query=is_query)


def test_a_book_edited_while_in_flight_is_discarded_not_written(books, bookrec, django_capture_on_commit_callbacks):
    embedder = bookrec(EMBEDDER="tests.test_pipeline.EditsWhileEmbedding")
    embedder.edit_book_id = books[1].pk
    with django_capture_on_commit_callbacks() as callbacks:
        report = pipeline.embed_books([b.pk for b in books])
    assert report.discarded == [books[1].pk]
    assert sorted(report.embedded) == sorted([books[0].pk, books[2].pk])
    edited = Book.objects.get(pk=books[1].pk)
    assert edited.embedding_status == EmbeddingStatus.PENDING
    assert edited.embedding is None and edited.embedded_hash == ""
    assert edited.content_hash == document_hash(document_text(edited))
    assert len(callbacks) == 1  # the new text has its own task


def test_a_text_the_server_rejects_fails_only_its_book_with_the_reason(bookrec, server_double, embedding_server):
    double = server_double(rejecting("FORBIDDEN", embedding_server))
    bookrec(EMBEDDING_BASE_URL=double.base_url, EMBEDDING_MODEL="multilingual-e5-small",
            EMBEDDING_DIMENSIONS=384, EMBEDDING_MAX_RETRIES=0)
    books = [make_book(title=f"Book {i}", summary=f"Summary {i} about gardening.") for i in range(5)]
    bad = make_book(title="Bad", summary="A FORBIDDEN summary.")
    ids = [b.pk for b in books[:2]] + [bad.pk] + [b.pk for b in books[2:]]
    report = pipeline.embed_books(ids)
    assert list(report.failed) == [bad.pk]
    assert sorted(report.embedded) == sorted(b.pk for b in books)
    failed = Book.objects.get(pk=bad.pk)
    assert failed.embedding_status == EmbeddingStatus.FAILED
    assert "HTTP 400" in failed.embedding_error and "FORBIDDEN" in failed.embedding_error
    assert Book.objects.filter(pk__in=[b.pk for b in books], embedding_status=EmbeddingStatus.EMBEDDED).count() == 5


def test_an_unreachable_server_raises_for_a_retry_and_leaves_books_pending(books, bookrec):
    bookrec(EMBEDDING_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(EmbeddingUnavailable):
        pipeline.embed_books([b.pk for b in books])
    assert set(Book.objects.values_list("embedding_status", flat=True)) == {EmbeddingStatus.PENDING}


# -- marking and queueing ----------------------------------------------------------


def test_queue_embedding_sends_one_task_per_batch(bookrec, queued_tasks):
    bookrec(TASK_BATCH_SIZE=2)
    assert pipeline.queue_embedding([1, 2, 3, 4, 5]) == 5
    assert [(name, args) for name, args, kwargs in queued_tasks()] == [
        ("bookrec.embed_books", [[1, 2]]), ("bookrec.embed_books", [[3, 4]]), ("bookrec.embed_books", [[5]]),
    ]


def test_reembed_marks_and_queues_after_commit(django_capture_on_commit_callbacks, queued_tasks):
    current = embedded_book(direction(1), title="Current")
    failed = make_book(title="Failed")
    Book.objects.filter(pk=failed.pk).update(embedding_status=EmbeddingStatus.FAILED, embedding_error="HTTP 400")
    blank = make_book(title="Blank", summary="")
    with django_capture_on_commit_callbacks(execute=True):
        queued = pipeline.reembed(Book.objects.filter(pk__in=[current.pk, failed.pk, blank.pk]))
        assert queued_tasks() == []
    assert queued == 2
    ((name, args, kwargs),) = queued_tasks()
    assert sorted(args[0]) == sorted([current.pk, failed.pk]) and kwargs == {"force": True}
    statuses = dict(Book.objects.values_list("pk", "embedding_status"))
    # A current vector keeps serving until its replacement is written.
    assert statuses == {current.pk: EmbeddingStatus.EMBEDDED, failed.pk: EmbeddingStatus.PENDING,
                        blank.pk: EmbeddingStatus.SKIPPED}
    assert Book.objects.get(pk=failed.pk).embedding_error == ""


def test_reembed_stale_or_failed_queues_only_those(django_capture_on_commit_callbacks, queued_tasks):
    embedded_book(direction(1), title="Current")
    stale = embedded_book(direction(1), model_name="another-model", title="Stale")
    failed = make_book(title="Failed")
    Book.objects.filter(pk=failed.pk).update(embedding_status=EmbeddingStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.reembed_stale_or_failed() == 2
    ((name, args, kwargs),) = queued_tasks()
    assert sorted(args[0]) == sorted([stale.pk, failed.pk]) and kwargs == {"force": False}
    assert Book.objects.get(pk=stale.pk).embedding_status == EmbeddingStatus.PENDING


def test_queue_pending_sends_the_books_left_pending(queued_tasks):
    pending = make_book(title="Pending")
    embedded_book(direction(1), title="Current")
    assert pipeline.queue_pending() == 1
    assert [args for name, args, kwargs in queued_tasks()] == [[[pending.pk]]]


def test_record_failure_marks_failed_but_keeps_a_current_vector_serving():
    pending = make_book(title="Pending")
    current = embedded_book(direction(1), title="Current")
    blank = make_book(title="Blank", summary="")
    pipeline.record_failure([pending.pk, current.pk, blank.pk], "Gave up: server down")
    rows = {b.pk: (b.embedding_status, b.embedding_error) for b in Book.objects.all()}
    assert rows[pending.pk] == (EmbeddingStatus.FAILED, "Gave up: server down")
    assert rows[current.pk] == (EmbeddingStatus.EMBEDDED, "Gave up: server down")
    assert rows[blank.pk] == (EmbeddingStatus.SKIPPED, "")


def test_record_transient_error_notes_the_retry_on_pending_books():
    pending = make_book(title="Pending")
    pipeline.record_transient_error([pending.pk], "Embedding server unreachable")
    pending.refresh_from_db()
    assert pending.embedding_status == EmbeddingStatus.PENDING
    assert pending.embedding_error == "Will retry: Embedding server unreachable"


def test_a_book_reembedded_without_text_is_embedded_again_when_its_text_returns(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1), summary="A summary that will come back.")
    Book.objects.filter(pk=book.pk).update(summary="")  # e.g. a bulk edit in the shell
    pipeline.reembed(Book.objects.filter(pk=book.pk))
    book.refresh_from_db()
    assert book.embedding_status == EmbeddingStatus.SKIPPED
    with django_capture_on_commit_callbacks() as callbacks:
        book.summary = "A summary that will come back."
        book.save()
    assert len(callbacks) == 1
    assert Book.objects.get(pk=book.pk).embedding_status == EmbeddingStatus.PENDING


def test_vectors_the_column_cannot_hold_fail_their_books_with_the_reason(books, bookrec):
    # The column is 384 wide; the settings now ask for 128 (bookrec.W001 warns about it).
    bookrec(EMBEDDING_DIMENSIONS=128)
    report = pipeline.embed_books([b.pk for b in books])
    assert sorted(report.failed) == sorted(b.pk for b in books)
    for book in Book.objects.filter(pk__in=[b.pk for b in books]):
        assert book.embedding_status == EmbeddingStatus.FAILED
        assert "expected 384 dimensions, not 128" in book.embedding_error
        assert "embed --resize-column" in book.embedding_error
