"""bookrec's records follow the registered objects: saves through the signals, everything
else through the sweep (bookrec.indexing)."""

import pytest
from django.db import connection

from bookrec import indexing
from bookrec.models import Book, Document, Embedding, EmbeddingStatus
from bookrec.registry import document_hash, registration_for
from tests.books import content_hash, direction, embedded_book, give_vector, make_book, state, status

pytestmark = pytest.mark.django_db


def embed_task_pks(tasks):
    return [args[1] for name, args, kwargs in tasks if name == "bookrec.embed"]


def records(book):
    registration = registration_for(book)
    return (
        Document.objects.filter(model_label=registration.model_label, object_id=book.pk).count(),
        Embedding.objects.filter(model_label=registration.model_label, object_id=book.pk).count(),
    )


def test_a_new_book_is_pending_and_queued_only_after_commit(django_capture_on_commit_callbacks, queued_tasks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        book = make_book()
        assert status(book) == EmbeddingStatus.PENDING
        assert content_hash(book) == document_hash(registration_for(book).render(book))
        assert queued_tasks() == []  # nothing reaches the broker before the commit
    assert len(callbacks) == 1
    assert embed_task_pks(queued_tasks()) == [[book.pk]]


def test_saving_unchanged_text_queues_nothing_and_keeps_the_vector(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1))
    with django_capture_on_commit_callbacks() as callbacks:
        book.year = 1999
        book.subjects = ["Poetry"]
        book.save()
    assert callbacks == []
    assert status(book) == EmbeddingStatus.EMBEDDED
    assert state(book).embedding is not None


def test_a_book_without_a_summary_is_skipped_and_not_queued(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        book = make_book(summary="   ")
    assert callbacks == []
    assert status(book) == EmbeddingStatus.SKIPPED


@pytest.mark.parametrize("field, value", [("title", "New title"), ("author", "New Author"), ("summary", "A new summary.")])
def test_changed_text_clears_the_old_vector_and_queues_again(django_capture_on_commit_callbacks, field, value):
    book = embedded_book(direction(1))
    old_hash = content_hash(book)
    with django_capture_on_commit_callbacks() as callbacks:
        setattr(book, field, value)
        book.save()
    assert len(callbacks) == 1
    row = state(book)
    assert row.status == EmbeddingStatus.PENDING
    assert row.embedding is None and row.embedded_hash == "" and row.embedded_at is None
    assert content_hash(book) not in ("", old_hash)


def test_a_changed_text_clears_the_vectors_of_every_space():
    book = embedded_book(direction(1), model_name="another-model")
    give_vector(book, direction(1))
    book.summary = "A new summary."
    book.save()
    assert set(Embedding.objects.filter(object_id=book.pk).values_list("embedding", flat=True)) == {None}


def test_clearing_the_summary_drops_the_vector_and_skips_the_book(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1))
    with django_capture_on_commit_callbacks() as callbacks:
        book.summary = ""
        book.save()
    assert callbacks == []
    assert status(book) == EmbeddingStatus.SKIPPED
    assert state(book).embedding is None and content_hash(book) == ""


def test_save_with_update_fields_still_syncs(django_capture_on_commit_callbacks):
    book = embedded_book(direction(1))
    with django_capture_on_commit_callbacks() as callbacks:
        book.summary = "Rewritten summary."
        book.save(update_fields=["summary"])
    assert len(callbacks) == 1
    assert status(book) == EmbeddingStatus.PENDING
    assert content_hash(book) == document_hash(registration_for(book).render(book))


def test_blank_external_ids_do_not_collide():
    first = make_book(external_id="")
    second = make_book(external_id="")
    assert first.external_id is None and second.external_id is None


def test_a_vector_survives_a_round_trip_through_the_halfvec_column():
    book = give_vector(make_book(), direction(0.6, 0.8))
    assert len(state(book).embedding) == 384
    assert state(book).embedding[:3] == pytest.approx([0.6, 0.8, 0.0], abs=1e-3)


def test_deleting_a_book_drops_its_records():
    book = embedded_book(direction(1))
    assert records(book) == (1, 1)
    Book.objects.filter(pk=book.pk).delete()  # a bulk delete sends the signals too
    assert records(book) == (0, 0)


def test_the_host_table_is_never_altered():
    columns = {column.name for column in connection.introspection.get_table_description(connection.cursor(), "bookrec_book")}
    assert not {name for name in columns if "embed" in name or "hash" in name or "search" in name}


# -- what the signals cannot see: the sweep ------------------------------------------------


def sweep():
    return indexing.sweep(registration_for(Book))


def test_a_queryset_update_is_found_by_the_sweep_which_clears_the_old_vector():
    book = embedded_book(direction(1))
    Book.objects.filter(pk=book.pk).update(summary="Changed behind the signals' back.")
    assert status(book) == EmbeddingStatus.EMBEDDED  # nothing saw it yet
    report = sweep()
    assert report.changed == [book.pk] and book.pk in report.missing
    assert status(book) == EmbeddingStatus.PENDING and state(book).embedding is None
    book.refresh_from_db()
    assert content_hash(book) == document_hash(registration_for(book).render(book))


def test_bulk_create_and_raw_sql_inserts_are_found_by_the_sweep():
    created = Book.objects.bulk_create([Book(title="Bulk", summary="Made in bulk.")])[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bookrec_book (title, author, summary, language, subjects, created_at, updated_at)"
            " VALUES ('Raw', '', 'Made with SQL.', '', '{}', now(), now()) RETURNING id"
        )
        raw = cursor.fetchone()[0]
    assert status(created) is None
    report = sweep()
    assert sorted(report.changed) == sorted([created.pk, raw]) and set(report.missing) >= {created.pk, raw}
    assert status(created) == status(Book.objects.get(pk=raw)) == EmbeddingStatus.PENDING


def test_rows_deleted_with_raw_sql_lose_their_records_in_the_sweep():
    gone = embedded_book(direction(1), title="Gone")
    kept = embedded_book(direction(1), title="Kept")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM bookrec_book WHERE id = %s", [gone.pk])
    assert sweep().forgotten == 1
    assert records(gone) == (0, 0) and records(kept) == (1, 1)


def test_a_sweep_of_a_catalogue_in_step_changes_nothing():
    book = embedded_book(direction(1))
    report = sweep()
    assert report.changed == [] and report.forgotten == 0 and report.missing == []
    assert status(book) == EmbeddingStatus.EMBEDDED


def test_a_new_model_gives_every_book_a_pending_row_in_its_space(bookrec):
    book = embedded_book(direction(1))
    bookrec(EMBEDDING_DIMENSIONS=256)  # a new space: "<model>@256"
    assert status(book) is None
    assert sweep().missing == [book.pk]
    assert status(book) == EmbeddingStatus.PENDING


def test_the_state_attached_after_a_fetch_is_the_one_the_admin_annotates():
    """The API reads each page's embedding state in one query after fetching it; the admin
    annotates it in SQL (to filter and sort by it): both must say the same."""
    from tests.books import at_angle, set_state

    embedded_book(at_angle(0), title="embedded")
    set_state(make_book(title="failed"), status=EmbeddingStatus.FAILED, error="The server said no.")
    embedded_book(at_angle(10), "old-model", title="stale")  # a vector of another model only
    give_vector(embedded_book(at_angle(20), title="both"), at_angle(30), "old-model")
    give_vector(give_vector(make_book(title="two others"), at_angle(0), "older"), at_angle(0), "newer")
    Book.objects.bulk_create([Book(title="never synced", summary="No record yet.")])
    make_book(title="skipped", summary="")
    annotated = {book.pk: book for book in indexing.with_embedding_state(Book.objects.all())}
    attached = indexing.attach_embedding_states(Book.objects.all())
    assert len(attached) == len(annotated) == 7
    for book in attached:
        for name in indexing.EMBEDDING_STATE_ATTRIBUTES:
            assert getattr(book, name) == getattr(annotated[book.pk], name), (book.title, name)
    by_title = {book.title: book for book in attached}
    assert by_title["two others"].embedding_model == "newer" and by_title["stale"].embedding_model == "old-model"
    assert by_title["both"].embedding_model == by_title["embedded"].embedding_model != "old-model"
    assert by_title["never synced"].embedding_status == EmbeddingStatus.PENDING and by_title["skipped"].embedding_status == EmbeddingStatus.SKIPPED
    assert by_title["failed"].embedding_error == "The server said no."
