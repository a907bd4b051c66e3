"""The management commands (bookrec/management/commands/)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from bookrec import indexing
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for
from tests.books import direction, embedded_book, make_book, state, status
from tests.processes import free_port

pytestmark = pytest.mark.django_db


def embed(*args):
    out = StringIO()
    call_command("embed", *args, stdout=out, verbosity=0)
    return out.getvalue()


@pytest.fixture
def catalogue():
    books = {
        "current": embedded_book(direction(1), title="Current"),
        "stale": embedded_book(direction(1), model_name="old-model", title="Stale"),
        "pending": make_book(title="Pending", summary="A book about gardens."),
        "failed": make_book(title="Failed", summary="A book about rivers."),
        "skipped": make_book(title="Skipped", summary=""),
    }
    indexing.active_embeddings(registration_for(Book)).filter(object_id=books["failed"].pk).update(
        status=EmbeddingStatus.FAILED
    )
    return books


def embedded_at(book):
    return state(book).embedded_at


def statuses():
    return {book.title: status(book) for book in Book.objects.all()}


def test_embed_by_default_embeds_what_is_stale_pending_or_failed(catalogue):
    before = embedded_at(catalogue["current"])
    output = embed()
    assert "bookrec.Book: embedded 3; 0 failed" in output
    assert statuses() == {"Current": "embedded", "Stale": "embedded", "Pending": "embedded",
                          "Failed": "embedded", "Skipped": "skipped"}
    assert embedded_at(catalogue["current"]) == before


def test_embed_failed_takes_only_the_failed(catalogue):
    assert "bookrec.Book: embedded 1;" in embed("--failed")
    assert statuses()["Failed"] == "embedded" and statuses()["Pending"] == "pending"


def test_embed_ids_embeds_those_books_again(catalogue):
    before = embedded_at(catalogue["current"])
    embed("--ids", str(catalogue["current"].pk), str(catalogue["pending"].pk))
    assert embedded_at(catalogue["current"]) > before
    assert statuses()["Pending"] == "embedded" and statuses()["Failed"] == "failed"


def test_embed_all_embeds_every_book_with_a_summary_again(catalogue):
    before = embedded_at(catalogue["current"])
    assert "bookrec.Book: embedded 4; 0 failed" in embed("--all")
    assert embedded_at(catalogue["current"]) > before
    assert statuses()["Skipped"] == "skipped"


def test_embed_queue_sends_the_work_to_the_workers(catalogue, queued_tasks):
    assert "bookrec.Book: queued 3 of 3 objects" in embed("--queue")
    queued = sorted(pk for name, args, kwargs in queued_tasks() for pk in args[1])
    assert queued == sorted(catalogue[name].pk for name in ("stale", "pending", "failed"))


def test_embed_stops_with_a_clear_error_when_the_server_is_down(catalogue, bookrec):
    bookrec(EMBEDDING_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(CommandError, match="unreachable.*0 objects were embedded; the rest stay pending"):
        embed()


def test_embed_all_queue_asks_the_workers_to_embed_current_books_too(catalogue, queued_tasks):
    assert "bookrec.Book: queued 4 of 4 objects" in embed("--all", "--queue")
    ((name, args, kwargs),) = queued_tasks()
    assert kwargs == {"force": True} and catalogue["current"].pk in args[1]
