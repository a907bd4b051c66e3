import signal

import pytest
from django.conf import settings as django_settings

from tests.processes import embedded_postmaster, start_embedding_server, start_worker


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
    """Drop messages earlier tests left on the run's queue (Redis or RabbitMQ alike)."""
    from kombu import Queue

    from library_site.celery import app

    with app.connection_for_write() as conn:
        queue = Queue(django_settings.BOOKREC["CELERY_QUEUE"], channel=conn.default_channel)
        queue.declare()
        queue.purge()


@pytest.fixture
def data_dir(tmp_path):
    """A BOOKREC_DATA_DIR of the test's own; an embedded PostgreSQL a failed test left
    running there is stopped."""
    path = tmp_path / "var"
    yield path
    server = embedded_postmaster(path)
    if server is not None:
        server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
