"""The whole way with real processes: save a book → a Celery worker (separate process,
real broker) → the real HTTP embedding server → PostgreSQL → the similar-books API."""

import pytest
from rest_framework.test import APIClient

from bookrec import pipeline
from bookrec.embedders.local import LocalE5Embedder
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for
from tests.books import content_hash, state, statuses
from tests.processes import wait_until

BOOKS = [
    ("Deep Learning", "Ian Goodfellow", "An introduction to neural networks, backpropagation and training deep models."),
    ("Neural Networks from Scratch", "Harrison Kinsley", "Build neural networks by hand: layers, gradients and training loops."),
    ("The Art of French Cooking", "Julia Child", "Classic French recipes: sauces, soups, roasts and pastry for the home cook."),
]


def all_embedded(ids):
    return statuses(ids) == {EmbeddingStatus.EMBEDDED: len(ids)}


@pytest.mark.django_db(transaction=True)
def test_saved_books_are_embedded_by_a_worker_and_recommended(openai_settings, embedding_server, celery_worker, purge_queue):
    worker = celery_worker(env={
        "EMBEDDING_BASE_URL": embedding_server,
        "EMBEDDING_MODEL": "multilingual-e5-small",
        "EMBEDDING_DIMENSIONS": "384",
    })
    books = [Book.objects.create(title=t, author=a, summary=s, language="en") for t, a, s in BOOKS]
    ids = [book.pk for book in books]
    assert statuses(ids) == {EmbeddingStatus.PENDING: len(ids)}

    wait_until(lambda: all_embedded(ids), 60, "the worker to embed the books")

    stored = state(books[0])
    assert stored.space == "multilingual-e5-small@384"
    assert len(stored.embedding) == 384
    assert stored.embedded_hash == content_hash(books[0])

    response = APIClient().get(f"/api/books/{ids[0]}/similar/", {"limit": 2})
    assert response.status_code == 200, response.content
    titles = [r["book"]["title"] for r in response.json()["results"]]
    assert titles == ["Neural Networks from Scratch", "The Art of French Cooking"]
    assert "bookrec.embed" in worker.output()


# Two books on one topic and one on another, per language: the second must come first.
TOPICS = {
    "en": [
        ("Deep Learning", "Ian Goodfellow", "An introduction to neural networks, backpropagation and training deep models."),
        ("Neural Networks from Scratch", "Harrison Kinsley", "Build neural networks by hand: layers, gradients and training loops."),
        ("The Art of French Cooking", "Julia Child", "Classic French recipes: sauces, soups, roasts and pastry for the home cook."),
    ],
    "zh": [
        ("深度学习", "伊恩·古德费洛", "本书介绍神经网络、反向传播算法以及深度模型的训练方法。"),
        ("从零开始的神经网络", "哈里森·金斯利", "亲手搭建神经网络：网络层、梯度计算和训练循环。"),
        ("中国家常菜", "王师傅", "家常菜谱：炒菜、炖汤、包饺子和蒸馒头的做法，适合在家做饭的人。"),
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("language", sorted(TOPICS))
def test_the_local_model_recommends_the_book_on_the_same_topic_first(bookrec, language):
    embedder = bookrec()
    assert isinstance(embedder, LocalE5Embedder)
    books = [Book.objects.create(title=t, author=a, summary=s, language=language) for t, a, s in TOPICS[language]]
    report = pipeline.embed_objects(registration_for(Book), [book.pk for book in books], embedder=embedder)
    assert sorted(report.embedded) == sorted(book.pk for book in books)

    response = APIClient().get(f"/api/books/{books[0].pk}/similar/")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["book"]["title"] for r in results] == [books[1].title, books[2].title]
    assert 1 >= results[0]["similarity"] > results[1]["similarity"] > 0
