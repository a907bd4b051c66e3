import re
import signal

import pytest
from django.conf import settings as django_settings

from bookrec.embedders import get_embedder
from tests.doubles import EmbeddingServerDouble
from tests.fault_server import FAULT_MODEL, FaultServer
from tests.processes import embedded_postmaster, start_embedding_server, start_worker, wait_until

# How Celery logs the end of a sweep task, whatever its outcome.
SWEEP_ENDED = re.compile(r"Task bookrec\.sweep\[[^\]]+\] (succeeded|raised|retry)")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users need a password, not a slow hash of it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def embedding_server(tmp_path_factory):
    """The base URL of a real OpenAI-compatible embedding server."""
    process, base_url = start_embedding_server(tmp_path_factory.mktemp("embedding-server"))
    yield base_url
    process.stop()


@pytest.fixture
def bookrec(settings):
    """Change ``BOOKREC`` for one test: ``bookrec(KEY=value, ...)`` returns the embedder
    those settings give."""

    def configure(**overrides):
        settings.BOOKREC = {**settings.BOOKREC, **overrides}
        return get_embedder()

    return configure


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
def server_double():
    """Start test doubles of the embeddings protocol: ``server_double(respond)``."""
    doubles = []

    def start(respond):
        doubles.append(EmbeddingServerDouble(respond))
        return doubles[-1]

    yield start
    for double in doubles:
        double.stop()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Start a real worker (separate process, real broker) on demand: ``celery_worker(env)``."""
    workers = []

    def start(env=None, name="worker", pool="solo"):
        from django.core.cache import cache

        from bookrec.tasks import START_SWEEP_KEY

        first = not workers
        if first:
            cache.delete(START_SWEEP_KEY)  # each test's workers are a cluster start of their own
        worker = start_worker(tmp_path / f"{name}-{len(workers)}.log", env=env, name=name, pool=pool)
        workers.append(worker)
        if first:
            # The sweep it queues on starting would queue a book the test then saves a second
            # time (two tasks, two sets of retries): the test begins once the sweep is over.
            wait_until(lambda: SWEEP_ENDED.search(worker.output()) or not worker.alive(), 60, "the starting worker's sweep")
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
def queued_tasks(purge_queue):
    """Take the messages waiting in the test run's queue of the real broker:
    ``queued_tasks()`` returns ``[(task name, args, kwargs), ...]`` and empties the queue."""
    from library_site.celery import app

    def take():
        taken = []
        with app.connection_for_read() as conn:
            queue = conn.SimpleQueue(django_settings.BOOKREC["CELERY_QUEUE"], no_ack=True)
            try:
                while True:
                    message = queue.get(block=False)
                    args, kwargs, _ = message.decode()
                    taken.append((message.headers["task"], args, kwargs))
            except queue.Empty:
                pass
            finally:
                queue.close()
        return taken

    return take


@pytest.fixture
def data_dir(tmp_path):
    """A BOOKREC_DATA_DIR of the test's own; an embedded PostgreSQL a failed test left
    running there is stopped."""
    path = tmp_path / "var"
    yield path
    server = embedded_postmaster(path)
    if server is not None:
        server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown


@pytest.fixture
def fault_server():
    """A misbehaving-on-demand OpenAI-compatible server (a test double of the protocol)."""
    server = FaultServer(dimensions=384).start()
    yield server
    server.heal()
    server.stop()


@pytest.fixture
def fault_settings(settings, fault_server):
    """bookrec in this process configured as the fault workers are (same model name)."""
    settings.BOOKREC = {
        **django_settings.BOOKREC,
        "EMBEDDING_BASE_URL": fault_server.base_url,
        "EMBEDDING_MODEL": FAULT_MODEL,
        "EMBEDDING_DIMENSIONS": 384,
        "EMBEDDING_MAX_RETRIES": 0,
        "EMBEDDING_TIMEOUT": 1.0,
    }
    return settings


@pytest.fixture
def fault_worker(celery_worker, fault_server, fault_settings, purge_queue):
    """Start a real worker embedding through the fault server: ``fault_worker(**env)``."""

    def start(name="worker", pool="solo", **env):
        environment = {**fault_server.environment(), **{k: str(v) for k, v in env.items()}}
        return celery_worker(name=name, env=environment, pool=pool)

    return start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    """After a database test has rolled back: VACUUM the embeddings. The HNSW graph keeps the
    rows a rolled-back test wrote until a vacuum, and many dead copies of one vector (the tests
    reuse the same few) leave a new row unreachable from the graph (pgvector/pgvector#549):
    the next test's index scans would find nothing."""
    yield
    if item.get_closest_marker("django_db") is None:
        return
    import psycopg
    from django.db import connection

    if not connection.settings_dict["NAME"].startswith("test_"):
        return
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        conn.execute("VACUUM bookrec_embedding")
