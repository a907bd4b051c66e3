"""The HNSW index around a first load: ``manage.py vector_index`` and ``import_books
--defer-index`` (drop, import, wait for a real worker to embed everything, build)."""

import io
import json
import threading

import pytest
from django.core.management import CommandError, call_command

from bookrec import recommendations, schema
from bookrec.models import Book, EmbeddingStatus
from tests.sample_books import catalogue  # noqa: F401 (fixture)


def command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def index_restored():
    """Whatever a test does to the index, the next test finds it built."""
    yield
    if not schema.index_exists():
        schema.build_index()


@pytest.mark.django_db
def test_drop_build_and_status(index_restored):
    assert command("vector_index", "status").startswith("built")
    assert "Dropped" in command("vector_index", "drop")
    assert not schema.index_exists()
    assert command("vector_index", "status").startswith("missing")
    assert "no index to drop" in command("vector_index", "drop")
    assert "Built in" in command("vector_index", "build", "--maintenance-work-mem", "64MB", "--parallel-workers", "0")
    assert schema.index_exists()
    assert "already built" in command("vector_index", "build")


@pytest.mark.django_db
def test_the_rebuilt_index_is_the_migrated_one(index_restored):
    def definition():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [schema.hnsw_index().name])
            return cursor.fetchone()[0]

    migrated = definition()
    schema.drop_index()
    schema.build_index()
    assert definition() == migrated
    assert "hnsw" in migrated and "halfvec_cosine_ops" in migrated


@pytest.mark.django_db
def test_recommendations_are_the_same_without_the_index(catalogue, index_restored):
    book = catalogue["Moby-Dick"]
    with_index = [r.book.pk for r in recommendations.similar_books(book, limit=5)]
    schema.drop_index()
    assert [r.book.pk for r in recommendations.similar_books(book, limit=5)] == with_index


def write_catalogue(path, books):
    path.write_text("".join(json.dumps(book) + "\n" for book in books))
    return path


@pytest.mark.django_db
def test_defer_index_with_nothing_to_embed_builds_at_once(tmp_path, index_restored, django_capture_on_commit_callbacks):
    path = write_catalogue(tmp_path / "titles.jsonl", [{"id": "t1", "title": "A title alone"}])
    with django_capture_on_commit_callbacks(execute=True):
        out = command("import_books", str(path), "--defer-index")
    assert "Dropped the HNSW index" in out and "Built in" in out
    assert schema.index_exists()
    assert Book.objects.get(external_id="t1").embedding_status == EmbeddingStatus.SKIPPED


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
                if not schema.index_exists() and Book.objects.exclude(embedding=None).exists():
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
    assert schema.index_exists()
    assert set(Book.objects.values_list("embedding_status", flat=True)) == {EmbeddingStatus.EMBEDDED}
    typee = Book.objects.get(external_id="d2")
    assert recommendations.similar_books(typee, limit=1)[0].book.external_id == "d1"


@pytest.mark.django_db
def test_interrupting_the_wait_says_how_to_build_the_index_later(tmp_path, monkeypatch, index_restored,
                                                                 django_capture_on_commit_callbacks, purge_queue):
    from bookrec.management.commands import import_books

    def interrupted(self, disable):
        raise KeyboardInterrupt

    monkeypatch.setattr(import_books.Command, "wait_for_embedding", interrupted)
    path = write_catalogue(tmp_path / "books.jsonl", BOOKS[:1])
    with pytest.raises(CommandError, match="vector_index build"):
        with django_capture_on_commit_callbacks(execute=True):
            command("import_books", str(path), "--defer-index")
    assert not schema.index_exists()
