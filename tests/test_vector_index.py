"""The HNSW index around a first load: ``manage.py vector_index`` and ``import_books
--defer-index`` (drop, import, wait for a real worker to embed everything, build)."""

import io
import json
import threading

import pytest
from django.core.management import CommandError, call_command

from bookrec import schema
from bookrec.models import Book, EmbeddingStatus
from bookrec.ranking import RankingOptions, rank_similar
from bookrec.recommendations import current_vectors
from bookrec.registry import registration_for
from tests.books import statuses
from tests.sample_books import catalogue  # noqa: F401 (fixture)

BOOK_INDEX = registration_for(Book)


def similar_books(book, limit):
    return rank_similar(book, mode="vector", options=RankingOptions(limit=limit)).results


def command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def index_restored():
    """Whatever a test does to the index, the next test finds it built."""
    yield
    if not schema.index_exists(BOOK_INDEX):
        schema.build_index(BOOK_INDEX)


@pytest.mark.django_db
def test_drop_build_and_status(index_restored):
    assert command("vector_index", "status") == "bookrec.Book: built\n"
    assert "bookrec.Book: dropped" in command("vector_index", "drop")
    assert not schema.index_exists(BOOK_INDEX)
    assert command("vector_index", "status").startswith("bookrec.Book: missing")
    assert "no index to drop" in command("vector_index", "drop", "--model", "bookrec.book")
    assert "Built in" in command("vector_index", "build", "--maintenance-work-mem", "64MB", "--parallel-workers", "0")
    assert schema.index_exists(BOOK_INDEX)
    assert "already built" in command("vector_index", "build")


@pytest.mark.django_db
def test_the_rebuilt_index_is_the_migrated_one(index_restored):
    def definition():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [schema.index_name(BOOK_INDEX)])
            return cursor.fetchone()[0]

    migrated = definition()
    schema.drop_index(BOOK_INDEX)
    schema.build_index(BOOK_INDEX)
    assert definition() == migrated
    assert "hnsw" in migrated and "(embedding)::halfvec(384)" in migrated and "halfvec_cosine_ops" in migrated
    assert f"model_label)::text = '{BOOK_INDEX.model_label}'" in migrated and "space" in migrated


@pytest.mark.django_db
def test_recommendations_are_the_same_without_the_index(catalogue, index_restored):
    book = catalogue["Moby-Dick"]
    with_index = [r.object.pk for r in similar_books(book, limit=5)]
    schema.drop_index(BOOK_INDEX)
    assert [r.object.pk for r in similar_books(book, limit=5)] == with_index


def write_catalogue(path, books):
    path.write_text("".join(json.dumps(book) + "\n" for book in books))
    return path


@pytest.mark.django_db
def test_defer_index_with_nothing_to_embed_builds_at_once(tmp_path, index_restored, django_capture_on_commit_callbacks):
    path = write_catalogue(tmp_path / "titles.jsonl", [{"id": "t1", "title": "A title alone"}])
    with django_capture_on_commit_callbacks(execute=True):
        out = command("import_books", str(path), "--defer-index")
    assert "Dropped the HNSW index" in out and "Built in" in out
    assert schema.index_exists(BOOK_INDEX)
    assert statuses([Book.objects.get(external_id="t1").pk]) == {EmbeddingStatus.SKIPPED: 1}


BOOKS = [
    {"id": "d1", "title": "Moby Dick", "summary": "Captain Ahab hunts the white whale across the oceans."},
    {"id": "d2", "title": "Typee", "summary": "A sailor deserts his whaling ship in the South Seas."},
    {"id": "d3", "title": "French Cooking", "summary": "Sauces, soups, roasts and pastry for the home cook."},
]


def test_defer_index_waits_for_the_workers_then_builds(tmp_path, celery_worker, purge_queue, index_restored):
    from django.db import connection

    path = write_catalogue(tmp_path / "books.jsonl", BOOKS)
    stop, seen_vectors_without_index = threading.Event(), threading.Event()

    def watch():  # the vectors must be written while the index is gone
        try:
            while not stop.is_set():
                if not schema.index_exists(BOOK_INDEX) and current_vectors(BOOK_INDEX).exists():
                    seen_vectors_without_index.set()
        finally:
            connection.close()

    celery_worker()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out = command("import_books", str(path), "--defer-index")
    finally:
        stop.set()
        watcher.join()
    assert "3 queued for embedding" in out and "Built in" in out
    assert seen_vectors_without_index.is_set()
    assert schema.index_exists(BOOK_INDEX)
    assert statuses(Book.objects.values_list("pk", flat=True)) == {EmbeddingStatus.EMBEDDED: 3}
    typee = Book.objects.get(external_id="d2")
    assert similar_books(typee, limit=1)[0].object.external_id == "d1"


@pytest.mark.django_db
def test_interrupting_the_wait_says_how_to_build_the_index_later(tmp_path, monkeypatch, index_restored,
                                                                 django_capture_on_commit_callbacks, purge_queue):
    from bookrec.management.commands import import_books

    def interrupted(self, registration, disable):
        raise KeyboardInterrupt

    monkeypatch.setattr(import_books.Command, "wait_for_embedding", interrupted)
    path = write_catalogue(tmp_path / "books.jsonl", BOOKS[:1])
    with pytest.raises(CommandError, match="vector_index build"):
        with django_capture_on_commit_callbacks(execute=True):
            command("import_books", str(path), "--defer-index")
    assert not schema.index_exists(BOOK_INDEX)
