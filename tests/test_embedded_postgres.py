"""The embedded PostgreSQL after a process that owned it was killed without cleanup:
the next owner still stops it at exit, and a stale postmaster.pid does not fool it.
Real servers in a temporary data directory, started from real subprocesses."""

import os
import signal
import subprocess
import sys

import psutil

from tests.processes import ROOT, Process, embedded_postmaster, wait_until

START = "from library_site import embedded_postgres; print(embedded_postgres.start(), flush=True)"


def owner_env(data_dir):
    return {"BOOKREC_DATA_DIR": str(data_dir), "DATABASE_URL": None}


def run_owner(data_dir):
    """A process that starts (or joins) the server and exits normally."""
    subprocess.run([sys.executable, "-c", START], cwd=ROOT, check=True, capture_output=True,
                   env={k: v for k, v in {**os.environ, **owner_env(data_dir)}.items() if v is not None})


def test_the_server_stops_after_its_owner_was_killed_and_another_took_over(data_dir, tmp_path):
    killed = Process([sys.executable, "-c", START + "; import time; time.sleep(600)"],
                     tmp_path / "killed.log", env=owner_env(data_dir))
    wait_until(lambda: "postgres://" in killed.output() or not killed.alive(), 60, "the first owner")
    server = embedded_postmaster(data_dir)
    killed.kill()  # SIGKILL: no atexit, the server keeps running

    assert server.is_running()
    run_owner(data_dir)  # joins the running server, then exits normally: the last owner stops it

    psutil.wait_procs([server], timeout=30)
    assert not server.is_running()
    assert embedded_postmaster(data_dir) is None


def test_a_postmaster_pid_left_by_a_killed_server_is_not_taken_for_a_running_one(data_dir, tmp_path):
    run_owner(data_dir)  # initdb, start, stop
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    impostor = subprocess.Popen(["sleep", "600"])  # the pid a killed postmaster left, now reused
    try:
        pid_file.write_text(f"{impostor.pid}\n{data_dir / 'pgdata'}\n1700000000\n5432\n{data_dir / 'pgdata'}\n\n"
                            "  1 2\nstopping\n")
        run_owner(data_dir)
    finally:
        impostor.send_signal(signal.SIGKILL)
        impostor.wait()
    # Started once more by the second owner (the first start of a new server also restarts it
    # once with the configured shared_buffers).
    log = (data_dir / "pgdata" / "log").read_text()
    assert log.count("database system is ready to accept connections") == 3
    assert embedded_postmaster(data_dir) is None


def test_a_new_server_starts_with_the_configured_shared_buffers(data_dir, tmp_path):
    owner = Process([sys.executable, "-c", START + "; import time; time.sleep(600)"], tmp_path / "owner.log",
                    env={**owner_env(data_dir), "BOOKREC_PG_SHARED_BUFFERS": "192MB"})
    try:
        wait_until(lambda: "postgres://" in owner.output() or not owner.alive(), 60, "the owner")
        url = owner.output().strip().splitlines()[-1].replace("postgres://", "postgresql://", 1)
        import psycopg

        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone()[0] == "192MB"
    finally:
        owner.stop()
