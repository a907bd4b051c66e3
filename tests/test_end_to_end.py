"""The whole way with real processes: save a book → a Celery worker (separate process,
real broker) → the real HTTP embedding server → PostgreSQL → the similar-books API."""

import pytest
from rest_framework.test import APIClient

from bookrec.models import Book, EmbeddingStatus
from tests.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

BOOKS = [
    ("Deep Learning", "Ian Goodfellow", "An introduction to neural networks, backpropagation and training deep models."),
    ("Neural Networks from Scratch", "Harrison Kinsley", "Build neural networks by hand: layers, gradients and training loops."),
    ("The Art of French Cooking", "Julia Child", "Classic French recipes: sauces, soups, roasts and pastry for the home cook."),
]


def all_embedded(ids):
    return Book.objects.filter(pk__in=ids, embedding_status=EmbeddingStatus.EMBEDDED).count() == len(ids)


def test_saved_books_are_embedded_by_a_worker_and_recommended(openai_settings, embedding_server, celery_worker, purge_queue):
    worker = celery_worker(env={
        "EMBEDDING_BASE_URL": embedding_server,
        "EMBEDDING_MODEL": "multilingual-e5-small",
        "EMBEDDING_DIMENSIONS": "384",
    })
    books = [Book.objects.create(title=t, author=a, summary=s, language="en") for t, a, s in BOOKS]
    ids = [book.pk for book in books]
    assert all(b.embedding_status == EmbeddingStatus.PENDING for b in books)

    wait_until(lambda: all_embedded(ids), 60, "the worker to embed the books")

    stored = Book.objects.get(pk=ids[0])
    assert stored.embedding_model == "multilingual-e5-small@384"
    assert len(stored.embedding) == 384
    assert stored.embedded_hash == stored.content_hash

    response = APIClient().get(f"/api/books/{ids[0]}/similar/", {"limit": 2})
    assert response.status_code == 200, response.content
    titles = [r["book"]["title"] for r in response.json()["results"]]
    assert titles == ["Neural Networks from Scratch", "The Art of French Cooking"]
    assert "embed_books" in worker.output()
