import pytest

from bookrec.documents import document_hash, document_text
from bookrec.models import Book, EmbeddingStatus
from tests.books import direction, embedded_book, give_vector, make_book

pytestmark = pytest.mark.django_db


def embed_task_ids(tasks):
    return [args[0] for name, args, kwargs in tasks if name == "bookrec.embed_books"]


def test_a_new_book_is_pending_and_queued_only_after_commit(django_capture_on_commit_callbacks, queued_tasks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        book = make_book()
        assert book.embedding_status == EmbeddingStatus.PENDING
        assert book.content_hash == document_hash(document_text(book))
        assert queued_tasks() == []  # nothing reaches the broker before the commit
    assert len(callbacks) == 1
    assert embed_task_ids(queued_tasks()) == [[book.pk]]


def test_saving_unchanged_text_queues_nothing_and_keeps_the_vector(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1))
    with django_capture_on_commit_callbacks() as callbacks:
        book.year = 1999
        book.subjects = ["Poetry"]
        book.save()
    assert callbacks == []
    book.refresh_from_db()
    assert book.embedding_status == EmbeddingStatus.EMBEDDED
    assert book.embedding is not None


def test_a_book_without_a_summary_is_skipped_and_not_queued(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        book = make_book(summary="   ")
    assert callbacks == []
    assert book.embedding_status == EmbeddingStatus.SKIPPED


@pytest.mark.parametrize("field, value", [("title", "New title"), ("author", "New Author"), ("summary", "A new summary.")])
def test_changed_text_clears_the_old_vector_and_queues_again(django_capture_on_commit_callbacks, field, value):
    book = embedded_book(direction(1))
    old_hash = book.content_hash
    with django_capture_on_commit_callbacks() as callbacks:
        setattr(book, field, value)
        book.save()
    assert len(callbacks) == 1
    book.refresh_from_db()
    assert book.embedding_status == EmbeddingStatus.PENDING
    assert book.embedding is None
    assert book.embedding_model == "" and book.embedded_hash == "" and book.embedded_at is None
    assert book.content_hash not in ("", old_hash)


def test_clearing_the_summary_drops_the_vector_and_skips_the_book(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1))
    with django_capture_on_commit_callbacks() as callbacks:
        book.summary = ""
        book.save()
    assert callbacks == []
    book.refresh_from_db()
    assert book.embedding_status == EmbeddingStatus.SKIPPED
    assert book.embedding is None and book.content_hash == ""


def test_save_with_update_fields_still_saves_the_embedding_state(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1))
    with django_capture_on_commit_callbacks() as callbacks:
        book.summary = "Rewritten summary."
        book.save(update_fields=["summary"])
    assert len(callbacks) == 1
    book.refresh_from_db()
    assert book.embedding_status == EmbeddingStatus.PENDING
    assert book.content_hash == document_hash(document_text(book))
    assert book.embedding is None


def test_blank_external_ids_do_not_collide():
    first = make_book(external_id="")
    second = make_book(external_id="")
    assert first.external_id is None and second.external_id is None


def test_with_current_embedding_keeps_only_vectors_of_the_configured_model():
    current = embedded_book(direction(1), title="Current")
    embedded_book(direction(1), model_name="another-model", title="Other model")
    make_book(title="Pending")
    assert list(Book.objects.with_current_embedding()) == [current]


def test_needing_embedding_is_pending_failed_or_another_models():
    embedded_book(direction(1), title="Current")
    stale = embedded_book(direction(1), model_name="another-model", title="Stale")
    pending = make_book(title="Pending")
    failed = make_book(title="Failed")
    Book.objects.filter(pk=failed.pk).update(embedding_status=EmbeddingStatus.FAILED)
    make_book(title="Skipped", summary="")
    assert set(Book.objects.needing_embedding()) == {stale, pending, failed}


def test_a_vector_survives_a_round_trip_through_the_halfvec_column():
    book = give_vector(make_book(), direction(0.6, 0.8))
    assert len(book.embedding) == 384
    assert book.embedding[:3] == pytest.approx([0.6, 0.8, 0.0], abs=1e-3)
