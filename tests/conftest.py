import pytest
from django.conf import settings as django_settings

from tests.fault_server import FAULT_MODEL, FaultServer
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

    def start(name="worker", **env):
        return celery_worker(name=name, env={**fault_server.environment(), **{k: str(v) for k, v in env.items()}})

    return start


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests log users in by the dozen: a deliberately slow hash only slows the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
