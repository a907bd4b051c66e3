import numpy as np
import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.processes import start_embedding_server, start_worker


@pytest.fixture(scope="session")
def embedding_server(tmp_path_factory):
    """The base URL of a real OpenAI-compatible embedding server."""
    process, base_url = start_embedding_server(tmp_path_factory.mktemp("embedding-server"))
    yield base_url
    process.stop()


@pytest.fixture
def openai_settings(settings, embedding_server):
    """bookrec configured for the OpenAI-compatible backend against the real server."""
    settings.BOOKREC = {
        **django_settings.BOOKREC,
        "EMBEDDING_BASE_URL": embedding_server,
        "EMBEDDING_MODEL": "multilingual-e5-small",
        "EMBEDDING_DIMENSIONS": 384,
    }
    return settings


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Start a real worker (separate process, real broker) on demand: ``celery_worker(env)``."""
    workers = []

    def start(env=None, name="worker"):
        worker = start_worker(tmp_path / f"{name}-{len(workers)}.log", env=env, name=name)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def purge_queue():
    from library_site.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(django_settings.BOOKREC["CELERY_QUEUE"])


@pytest.fixture
def random_embedded_books(db):
    """``random_embedded_books(n, subjects=...)``: n books embedded by the current model with
    random unit vectors (no embedder runs), the table analysed so the planner knows its size."""
    from bookrec.conf import bookrec_settings
    from bookrec.embedders import get_embedder
    from bookrec.models import Book, EmbeddingStatus

    def create(count, subjects=lambda i: []):
        vectors = np.random.default_rng(3).standard_normal((count, bookrec_settings.dimensions))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        books = Book.objects.bulk_create(
            Book(title=f"Book {i}", summary="x", embedding=vector, subjects=subjects(i),
                 embedding_status=EmbeddingStatus.EMBEDDED, embedding_model=get_embedder().model_name)
            for i, vector in enumerate(vectors)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Book._meta.db_table}")
        return books

    return create
