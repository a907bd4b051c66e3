"""The site's real processes, started for a benchmark and stopped after it."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

from bench.scratch import ROOT


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except OSError:
        return False


def run(command, env):
    """Run a command of the site to completion (it must succeed); its output goes to stderr."""
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=sys.stderr)


@contextmanager
def process(command, env, log_path, ready=None, timeout=120):
    """Run ``command`` in its own process group until the block ends; ``ready()`` is
    polled until it is true before the block starts."""
    with open(log_path, "ab") as log:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if child.poll() is not None:
                raise RuntimeError(f"{command[2:4]} exited ({child.returncode}); see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command[2:4]} was not ready after {timeout}s; see {log_path}")
            time.sleep(0.2)
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


@contextmanager
def gunicorn(env, log_path, *, workers=2, port=None):
    """The site under gunicorn (sync workers, one per core) on loopback; yields its base URL."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "gunicorn", "library_site.wsgi", "-b", f"127.0.0.1:{port}",
        "-w", str(workers), "--timeout", "600",
    ]
    with process(command, env, log_path, ready=lambda: answers(base + "/api/")):
        yield base
