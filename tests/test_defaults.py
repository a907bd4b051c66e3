"""The embedded defaults chosen for whatever the environment leaves unconfigured:
database, Celery broker (Redis when it answers, else the filesystem transport), embedder,
catalogue. Redis is the real local server the test suite uses."""

import os
import socketserver
import subprocess
import sys
import threading

import pytest

from bookrec.conf import LOCAL_EMBEDDER, OPENAI_EMBEDDER, bookrec_settings
from library_site import defaults
from tests.processes import ROOT, free_port


@pytest.fixture
def environ(monkeypatch, tmp_path):
    """os.environ as a newcomer has it (no broker configured), restored after the test."""
    saved = dict(os.environ)
    for name in ("CELERY_BROKER_URL", "BOOKREC_CELERY_QUEUE", "BOOKREC_BROKER_DIR", "BOOKREC_LOCAL_REDIS"):
        os.environ.pop(name, None)
    os.environ["BOOKREC_DATA_DIR"] = str(tmp_path / "var")
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def not_redis():
    """A test double of a TCP server that is not Redis: it answers PING with an HTTP error."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(64)
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_redis_is_chosen_when_it_answers_with_a_queue_per_checkout(environ, tmp_path):
    chosen = defaults.embedded_broker_environment()
    assert chosen["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert chosen["BOOKREC_CELERY_QUEUE"].startswith("bookrec-")
    assert defaults.embedded_broker_environment() == chosen  # stable for one checkout

    environ["BOOKREC_DATA_DIR"] = str(tmp_path / "another-checkout")
    assert defaults.embedded_broker_environment()["BOOKREC_CELERY_QUEUE"] != chosen["BOOKREC_CELERY_QUEUE"]


def test_a_queue_set_by_the_user_is_kept(environ):
    environ["BOOKREC_CELERY_QUEUE"] = "my-queue"
    assert defaults.embedded_broker_environment()["BOOKREC_CELERY_QUEUE"] == "my-queue"


def test_filesystem_transport_when_no_redis_answers(environ, tmp_path):
    environ["BOOKREC_LOCAL_REDIS"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    assert defaults.embedded_broker_environment() == {
        "CELERY_BROKER_URL": "filesystem://",
        "BOOKREC_BROKER_DIR": str(tmp_path / "var" / "broker"),
    }


def test_a_server_that_is_not_redis_does_not_count(environ, not_redis):
    environ["BOOKREC_LOCAL_REDIS"] = not_redis
    assert not defaults.redis_answers(*defaults.local_redis())
    assert defaults.embedded_broker_environment()["CELERY_BROKER_URL"] == "filesystem://"


def test_choose_broker_exports_its_choice_for_the_processes_started_later(environ):
    environ["BOOKREC_LOCAL_REDIS"] = f"127.0.0.1:{free_port()}"
    message = defaults.choose_broker()
    assert "filesystem transport" in message
    assert environ["CELERY_BROKER_URL"] == "filesystem://"

    environ.pop("BOOKREC_LOCAL_REDIS")
    environ.pop("CELERY_BROKER_URL")
    assert defaults.choose_broker() == "Celery broker: Redis at 127.0.0.1:6379 (it answered)."
    assert environ["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"


def test_a_configured_broker_is_used_as_it_is(environ):
    environ["CELERY_BROKER_URL"] = "amqp://guest@127.0.0.1:5672//"
    environ["BOOKREC_LOCAL_REDIS"] = f"127.0.0.1:{free_port()}"
    assert defaults.choose_broker() == "Celery broker: CELERY_BROKER_URL."
    assert environ["CELERY_BROKER_URL"] == "amqp://guest@127.0.0.1:5672//"
    assert "BOOKREC_CELERY_QUEUE" not in environ


def test_manage_py_in_a_terminal_makes_the_same_broker_choice(environ, tmp_path):
    """Without the launcher, the settings choose as it would (so `manage.py import_books`
    queues where the launcher's worker listens)."""
    environ["BOOKREC_LOCAL_REDIS"] = f"127.0.0.1:{free_port()}"
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c",
         "from django.conf import settings; "
         "print(settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'])"],
        cwd=ROOT, env=environ, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert shown == ["filesystem://", str(tmp_path / "var" / "broker")]


def test_a_configured_database_is_used_and_none_is_started(environ):
    environ["DATABASE_URL"] = url = "postgres://someone@db.example/library"
    assert defaults.choose_database() == "Database: DATABASE_URL (your PostgreSQL; it needs pgvector >= 0.8)."
    assert environ["DATABASE_URL"] == url


def test_the_local_model_is_the_embedder_unless_a_server_is_configured(environ, settings):
    environ.pop("EMBEDDING_BASE_URL", None)
    assert "local multilingual" in defaults.choose_embedder()
    settings.BOOKREC = {**settings.BOOKREC, "EMBEDDING_BASE_URL": ""}
    assert f"{bookrec_settings.EMBEDDER.__module__}.{bookrec_settings.EMBEDDER.__name__}" == LOCAL_EMBEDDER

    environ["EMBEDDING_BASE_URL"] = "http://sglang:30000/v1"
    assert defaults.choose_embedder() == "Embedder: the OpenAI-compatible server at http://sglang:30000/v1."
    settings.BOOKREC = {**settings.BOOKREC, "EMBEDDING_BASE_URL": "http://sglang:30000/v1"}
    assert f"{bookrec_settings.EMBEDDER.__module__}.{bookrec_settings.EMBEDDER.__name__}" == OPENAI_EMBEDDER


def test_the_gutenberg_catalogue_is_imported_when_present_else_the_bundled_sample(tmp_path):
    sample = defaults.default_catalogue(shared_data=tmp_path)
    assert sample == ROOT / "bookrec" / "fixtures" / "sample_catalogue.jsonl"
    assert sample.exists()

    (tmp_path / "gutenberg-dev.jsonl.gz").write_bytes(b"")
    assert defaults.default_catalogue(shared_data=tmp_path) == tmp_path / "gutenberg-dev.jsonl.gz"
