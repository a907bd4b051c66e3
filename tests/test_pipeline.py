import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookrec import indexing, pipeline, tasks
from bookrec.embedders import EmbeddingUnavailable
from bookrec.embedders.local import LocalE5Embedder
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import document_hash, registration_for
from tests.books import content_hash, direction, embedded_book, make_book, state, status
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


BOOKS = registration_for(Book)


def embed_books(pks, **kwargs):
    return pipeline.embed_objects(BOOKS, pks, **kwargs)


def vector_writes(queries):
    return [q["sql"] for q in queries if "::halfvec[]" in q["sql"]]


def states(books):
    return indexing.embedding_states(BOOKS, [book.pk for book in books])


def set_state(book, **values):
    indexing.active_embeddings(BOOKS).filter(object_id=book.pk).update(**values)


def test_embed_books_sends_one_request_and_writes_vectors_model_and_hash_in_one_statement(books, proxied_embedder):
    embedder, proxy = proxied_embedder
    set_state(books[0], error="Will retry: earlier failure")
    with CaptureQueriesContext(connection) as queries:
        report = embed_books([b.pk for b in books])
    assert sorted(report.embedded) == sorted(b.pk for b in books)
    assert len(proxy.requests) == 1 and len(proxy.requests[0]["input"]) == 3
    assert len(vector_writes(queries)) == 1
    for book in books:
        row = state(book)
        assert row.status == EmbeddingStatus.EMBEDDED
        assert row.space == embedder.model_name == "multilingual-e5-small@384"
        assert row.embedded_hash == content_hash(book) == document_hash(BOOKS.render(book))
        assert row.embedded_at is not None and row.error == ""
        assert np.linalg.norm(row.embedding) == pytest.approx(1.0, abs=1e-2)


def test_embed_books_is_idempotent(books, proxied_embedder):
    embedder, proxy = proxied_embedder
    ids = [b.pk for b in books]
    embed_books(ids)
    first = {pk: (row.embedded_hash, row.embedded_at) for pk, row in states(books).items()}
    report = embed_books(ids)
    assert sorted(report.skipped) == sorted(ids) and report.embedded == []
    assert len(proxy.requests) == 1  # nothing sent the second time
    assert {pk: (row.embedded_hash, row.embedded_at) for pk, row in states(books).items()} == first


def test_force_embeds_current_books_again(books, proxied_embedder):
    embedder, proxy = proxied_embedder
    ids = [b.pk for b in books]
    embed_books(ids)
    report = embed_books(ids, force=True)
    assert sorted(report.embedded) == sorted(ids)
    assert len(proxy.requests) == 2


def test_books_without_text_or_gone_are_skipped(bookrec):
    blank = make_book(summary="")
    report = embed_books([blank.pk, 10**9], embedder=bookrec())
    assert sorted(report.skipped) == [blank.pk, 10**9] and report.embedded == []


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
        report = embed_books([b.pk for b in books])
    assert report.discarded == [books[1].pk]
    assert sorted(report.embedded) == sorted([books[0].pk, books[2].pk])
    edited = Book.objects.get(pk=books[1].pk)
    assert status(edited) == EmbeddingStatus.PENDING
    assert state(edited).embedding is None and state(edited).embedded_hash == ""
    assert content_hash(edited) == document_hash(BOOKS.render(edited))
    assert len(callbacks) == 1  # the new text has its own task


def test_a_text_the_server_rejects_fails_only_its_book_with_the_reason(bookrec, server_double, embedding_server):
    double = server_double(rejecting("FORBIDDEN", embedding_server))
    bookrec(EMBEDDING_BASE_URL=double.base_url, EMBEDDING_MODEL="multilingual-e5-small",
            EMBEDDING_DIMENSIONS=384, EMBEDDING_MAX_RETRIES=0)
    books = [make_book(title=f"Book {i}", summary=f"Summary {i} about gardening.") for i in range(5)]
    bad = make_book(title="Bad", summary="A FORBIDDEN summary.")
    ids = [b.pk for b in books[:2]] + [bad.pk] + [b.pk for b in books[2:]]
    report = embed_books(ids)
    assert list(report.failed) == [bad.pk]
    assert sorted(report.embedded) == sorted(b.pk for b in books)
    failed = state(bad)
    assert failed.status == EmbeddingStatus.FAILED
    assert "HTTP 400" in failed.error and "FORBIDDEN" in failed.error
    assert [row.status for row in states(books).values()] == [EmbeddingStatus.EMBEDDED] * 5


def test_an_unreachable_server_raises_for_a_retry_and_leaves_books_pending(books, bookrec):
    bookrec(EMBEDDING_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(EmbeddingUnavailable):
        embed_books([b.pk for b in books])
    assert {row.status for row in states(books).values()} == {EmbeddingStatus.PENDING}


# -- marking and queueing ----------------------------------------------------------


def test_queue_embedding_sends_one_task_per_batch(bookrec, queued_tasks):
    bookrec(TASK_BATCH_SIZE=2)
    assert tasks.queue_embedding(BOOKS, [1, 2, 3, 4, 5]) == 5
    assert [(name, args) for name, args, kwargs in queued_tasks()] == [
        ("bookrec.embed", ["bookrec.Book", [1, 2]]), ("bookrec.embed", ["bookrec.Book", [3, 4]]),
        ("bookrec.embed", ["bookrec.Book", [5]]),
    ]


def test_reembed_marks_and_queues_after_commit(django_capture_on_commit_callbacks, queued_tasks):
    current = embedded_book(direction(1), title="Current")
    failed = make_book(title="Failed")
    set_state(failed, status=EmbeddingStatus.FAILED, error="HTTP 400")
    blank = make_book(title="Blank", summary="")
    with django_capture_on_commit_callbacks(execute=True):
        queued = tasks.reembed(Book.objects.filter(pk__in=[current.pk, failed.pk, blank.pk]))
        assert queued_tasks() == []
    assert queued == 2
    ((name, args, kwargs),) = queued_tasks()
    assert sorted(args[1]) == sorted([current.pk, failed.pk]) and kwargs == {"force": True}
    # A current vector keeps serving until its replacement is written.
    assert {pk: row.status for pk, row in states([current, failed, blank]).items()} == {
        current.pk: EmbeddingStatus.EMBEDDED, failed.pk: EmbeddingStatus.PENDING, blank.pk: EmbeddingStatus.SKIPPED,
    }
    assert state(failed).error == ""


def test_reembed_stale_or_failed_queues_only_those(django_capture_on_commit_callbacks, queued_tasks):
    embedded_book(direction(1), title="Current")
    stale = embedded_book(direction(1), model_name="another-model", title="Stale")
    failed = make_book(title="Failed")
    set_state(failed, status=EmbeddingStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reembed_stale_or_failed(Book) == 2
    ((name, args, kwargs),) = queued_tasks()
    assert sorted(args[1]) == sorted([stale.pk, failed.pk]) and kwargs == {"force": False}
    assert status(stale) == EmbeddingStatus.PENDING


def test_the_sweep_queues_the_books_left_pending(queued_tasks):
    pending = make_book(title="Pending")
    embedded_book(direction(1), title="Current")
    reports = tasks.sweep_and_queue()
    assert reports["bookrec.Book"].missing == [pending.pk]
    assert [args for name, args, kwargs in queued_tasks()] == [["bookrec.Book", [pending.pk]]]


def test_record_failure_marks_failed_but_keeps_a_current_vector_serving():
    pending = make_book(title="Pending")
    current = embedded_book(direction(1), title="Current")
    blank = make_book(title="Blank", summary="")
    pipeline.record_failure(BOOKS, [pending.pk, current.pk, blank.pk], "Gave up: server down")
    rows = {pk: (row.status, row.error) for pk, row in states([pending, current, blank]).items()}
    assert rows[pending.pk] == (EmbeddingStatus.FAILED, "Gave up: server down")
    assert rows[current.pk] == (EmbeddingStatus.EMBEDDED, "Gave up: server down")
    assert rows[blank.pk] == (EmbeddingStatus.SKIPPED, "")


def test_record_transient_error_notes_the_retry_on_pending_books():
    pending = make_book(title="Pending")
    pipeline.record_transient_error(BOOKS, [pending.pk], "Embedding server unreachable")
    assert status(pending) == EmbeddingStatus.PENDING
    assert state(pending).error == "Will retry: Embedding server unreachable"


def test_a_book_reembedded_without_text_is_embedded_again_when_its_text_returns(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1), summary="A summary that will come back.")
    Book.objects.filter(pk=book.pk).update(summary="")  # e.g. a bulk edit in the shell
    tasks.reembed(Book.objects.filter(pk=book.pk))
    book.refresh_from_db()
    assert status(book) == EmbeddingStatus.SKIPPED
    with django_capture_on_commit_callbacks() as callbacks:
        book.summary = "A summary that will come back."
        book.save()
    assert len(callbacks) == 1
    assert status(book) == EmbeddingStatus.PENDING


def test_a_new_width_is_a_new_space_embedded_beside_the_old_one(books, bookrec):
    embed_books([b.pk for b in books], embedder=bookrec())
    old_space = bookrec().model_name
    embedder = bookrec(EMBEDDING_DIMENSIONS=128)  # no column to resize: the vectors have no fixed width
    report = embed_books([b.pk for b in books])
    assert sorted(report.embedded) == sorted(b.pk for b in books)
    for row in states(books).values():
        assert row.space == embedder.model_name != old_space and len(row.embedding) == 128
    assert indexing.active_embeddings(BOOKS).count() == 3
