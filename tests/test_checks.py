import pytest
from django.core.management import call_command

from bookrec.checks import check_vector_column
from bookrec.models import Book, EmbeddingStatus
from bookrec.schema import column_dimensions, pgvector_version
from tests.books import direction, embedded_book, make_book

pytestmark = pytest.mark.django_db


def test_no_warning_when_settings_and_column_agree():
    assert column_dimensions() == 384
    assert check_vector_column(None) == []


def test_a_warning_names_both_widths_when_they_differ(bookrec):
    bookrec(EMBEDDING_DIMENSIONS=128)
    (warning,) = check_vector_column(None)
    assert warning.id == "bookrec.W001"
    assert "384-dimensional" in warning.msg and "ask for 128" in warning.msg
    assert "embed --resize-column" in warning.hint


def test_the_installed_pgvector_is_new_enough():
    major, minor = (int(part) for part in pgvector_version().split(".")[:2])
    assert (major, minor) >= (0, 8)


@pytest.fixture
def books_at_the_old_width():
    return {
        "embedded": embedded_book(direction(1), title="Embedded"),
        "pending": make_book(title="Pending"),
        "skipped": make_book(title="Skipped", summary=""),
    }


def test_resize_column_changes_the_width_and_queues_every_book(bookrec, books_at_the_old_width, queued_tasks):
    bookrec(EMBEDDING_DIMENSIONS=128)
    call_command("embed", "--resize-column", "--queue", verbosity=0)
    assert column_dimensions() == 128
    assert check_vector_column(None) == []
    statuses = dict(Book.objects.values_list("title", "embedding_status"))
    assert statuses == {"Embedded": EmbeddingStatus.PENDING, "Pending": EmbeddingStatus.PENDING,
                        "Skipped": EmbeddingStatus.SKIPPED}
    assert Book.objects.filter(embedding__isnull=False).count() == 0
    queued = sorted(pk for name, args, kwargs in queued_tasks() for pk in args[0])
    assert queued == sorted([books_at_the_old_width["embedded"].pk, books_at_the_old_width["pending"].pk])


def test_resize_column_then_embeds_at_the_new_width(bookrec, books_at_the_old_width):
    embedder = bookrec(EMBEDDING_DIMENSIONS=128)
    call_command("embed", "--resize-column", verbosity=0)
    for title in ("Embedded", "Pending"):
        book = Book.objects.get(title=title)
        assert book.embedding_status == EmbeddingStatus.EMBEDDED
        assert book.embedding_model == embedder.model_name and embedder.model_name.endswith("@128")
        assert len(book.embedding) == 128
