"""``./dev up`` end to end: the launcher as a subprocess on a tiny catalogue, with its own
embedded PostgreSQL, broker choice, Celery worker and web server, all real processes."""

import base64
import json
import os
import re
import signal
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from tests.processes import ROOT, Process, embedded_postmaster, free_port, wait_until

CATALOGUE = [
    {"id": "en-1", "language": "en", "title": "Deep Learning", "author": "Ian Goodfellow",
     "summary": "An introduction to neural networks, backpropagation and training deep models."},
    {"id": "en-2", "language": "en", "title": "Neural Networks from Scratch", "author": "Harrison Kinsley",
     "summary": "Build neural networks by hand: layers, gradients and training loops in Python."},
    {"id": "en-3", "language": "en", "title": "The Art of French Cooking", "author": "Julia Child",
     "summary": "Classic French recipes: sauces, soups, roasts and pastry for the home cook."},
    {"id": "zh-1", "language": "zh", "title": "深度学习入门", "author": "斋藤康毅",
     "summary": "从零开始用Python实现神经网络，讲解误差反向传播、卷积神经网络和深度学习的训练技巧。"},
    {"id": "zh-2", "language": "zh", "title": "统计学习方法", "author": "李航",
     "summary": "系统介绍感知机、支持向量机、决策树、隐马尔可夫模型等统计机器学习方法。"},
    {"id": "zh-3", "language": "zh", "title": "川菜家常菜谱", "author": "佚名",
     "summary": "麻婆豆腐、回锅肉、鱼香肉丝等四川家常菜的做法，讲解调味和火候。"},
    {"id": "no-summary", "language": "en", "title": "A Title Alone", "author": "Nobody", "summary": ""},
]
NEAREST = {"en-1": "Neural Networks from Scratch", "zh-1": "统计学习方法"}


@pytest.fixture
def catalogue(tmp_path):
    path = tmp_path / "catalogue.jsonl"
    path.write_text("".join(json.dumps(book, ensure_ascii=False) + "\n" for book in CATALOGUE))
    return path


def launcher_env(data_dir, **extra):
    """The environment of a newcomer's machine: nothing configured but where data lives."""
    unset = ["DATABASE_URL", "CELERY_BROKER_URL", "BOOKREC_CELERY_QUEUE", "BOOKREC_BROKER_DIR",
             "EMBEDDING_BASE_URL", "BOOKREC_ADMIN_USER", "BOOKREC_ADMIN_PASSWORD"]
    return {**dict.fromkeys(unset), "BOOKREC_DATA_DIR": str(data_dir), **extra}


def start_launcher(log_path, catalogue, env, *options):
    args = [sys.executable, "-m", "library_site.launcher", "--catalogue", str(catalogue),
            "--port", str(free_port()), *options]
    return Process(args, log_path, env=env)


def run_until_embedded(tmp_path, catalogue, env, name):
    launcher = start_launcher(tmp_path / f"{name}.log", catalogue, env,
                              "--exit-when-embedded", "--timings", str(tmp_path / f"{name}.json"))
    try:
        exit_code = launcher.popen.wait(240)
    finally:
        launcher.stop()
    assert exit_code == 0, diagnostics(launcher, Path(env["BOOKREC_DATA_DIR"]))
    return launcher.output()


def diagnostics(launcher, data_dir):
    """What to read when a run fails: its output and the database's log and lock file."""
    pgdata = data_dir / "pgdata"
    files = {name: (pgdata / name).read_text(errors="replace")[-3000:]
             for name in ("log", "postmaster.pid", ".handle_pids.json") if (pgdata / name).exists()}
    return "\n".join([launcher.output()[-3000:], *(f"--- {name}:\n{text}" for name, text in files.items())])


def diagnostics_of_files(folder):
    return "\n".join(str(path) for path in sorted(folder.rglob("*"))) or f"{folder} is empty"


def get_json(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return json.load(response)


def process_tree(launcher, data_dir):
    """The launcher, what it started, and the embedded PostgreSQL serving ``data_dir``."""
    root = psutil.Process(launcher.popen.pid)
    return [root, *root.children(recursive=True), embedded_postmaster(data_dir)]


def test_first_run_embeds_the_catalogue_and_the_second_run_reuses_it(tmp_path, data_dir, catalogue):
    closed_port = free_port()  # nothing listens there: no Redis, so the filesystem broker
    env = launcher_env(data_dir, BOOKREC_LOCAL_REDIS=f"127.0.0.1:{closed_port}")

    first = run_until_embedded(tmp_path, catalogue, env, "first")
    first_ended = datetime.now().astimezone()
    assert "kombu's filesystem transport" in first
    assert not (ROOT / "control").exists(), "the filesystem broker wrote into the checkout"
    assert (data_dir / "broker" / "control").is_dir(), diagnostics_of_files(data_dir / "broker")
    assert "Database: embedded PostgreSQL" in first
    assert "7 created, 0 updated, 0 unchanged, 0 rejected; 6 queued for embedding." in first
    password = re.search(r"login: librarian / (\S+)\)", first).group(1)
    staff = {"Authorization": "Basic " + base64.b64encode(f"librarian:{password}".encode()).decode()}
    examples = dict(re.findall(r"/api/books/(\d+)/similar/\?limit=5'\s+# (.+)", first))
    assert sorted(examples.values()) == ["Deep Learning", "深度学习入门"]
    assert set(json.loads((tmp_path / "first.json").read_text())) >= {"database_start", "import", "embedding"}

    # Second run: interactive, stopped with Ctrl-C as a terminal sends it (SIGINT to the group).
    port = free_port()
    second = Process([sys.executable, "-m", "library_site.launcher", "--catalogue", str(catalogue),
                      "--port", str(port)], tmp_path / "second.log", env=env)
    try:
        wait_until(lambda: "Press Ctrl-C" in second.output() or not second.alive(), 120, "the second run")
        assert "was imported before: not importing again" in second.output(), diagnostics(second, data_dir)
        with pytest.raises(urllib.error.HTTPError) as missing:  # DEBUG is off: no list of every URL
            get_json(f"http://127.0.0.1:{port}/api/no-such-page/")
        assert missing.value.code == 404 and b"URLconf" not in missing.value.read()
        books = get_json(f"http://127.0.0.1:{port}/api/books/?page_size=100", staff)["results"]  # staff see embedded_at
        status = {book["external_id"]: book["embedding_status"] for book in books}
        assert status == {**{book["id"]: "embedded" for book in CATALOGUE[:-1]}, "no-summary": "skipped"}
        embedded = [book for book in books if book["embedding_status"] == "embedded"]
        assert all(datetime.fromisoformat(book["embedded_at"]) < first_ended for book in embedded)
        for book_id, title in examples.items():
            similar = get_json(f"http://127.0.0.1:{port}/api/books/{book_id}/similar/?limit=5")["results"]
            external_id = next(b["external_id"] for b in books if b["title"] == title)
            assert similar[0]["book"]["title"] == NEAREST[external_id]
        processes = process_tree(second, data_dir)
        os.killpg(second.popen.pid, signal.SIGINT)
        assert second.popen.wait(60) == 0, second.output()
    finally:
        second.stop()
    assert "Stopping" in second.output()
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert alive == []
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def test_redis_when_it_answers_and_a_killed_launcher_leaves_nothing_behind(tmp_path, data_dir, catalogue):
    env = launcher_env(data_dir)
    killed = start_launcher(tmp_path / "killed.log", catalogue, env)
    try:
        wait_until(lambda: "Press Ctrl-C" in killed.output() or not killed.alive(), 240, "the first run")
        assert "Celery broker: Redis at 127.0.0.1:6379 (it answered)." in killed.output()
        assert "Every book with a summary is embedded." in killed.output()
        queue = re.search(r"queues\]\s+\.> (bookrec-[0-9a-f]{8})", (data_dir / "log" / "worker.log").read_text())
        assert queue, "the worker does not consume a queue of this checkout's own"
        launched = psutil.Process(killed.popen.pid).children(recursive=True)
        server = process_tree(killed, data_dir)[-1]
        killed.kill()  # SIGKILL: no cleanup in the launcher itself
    finally:
        killed.stop()
    _, alive = psutil.wait_procs(launched, timeout=30)
    assert alive == []  # the worker and the web server go with it

    # The database outlives a SIGKILL; the next run takes it over and stops it at its end.
    assert server.is_running()
    output = run_until_embedded(tmp_path, catalogue, env, "after-kill")
    assert "not importing again" in output
    psutil.wait_procs([server], timeout=30)
    assert not server.is_running()


def test_a_missing_catalogue_is_a_clear_error_before_anything_starts(tmp_path, data_dir):
    missing = start_launcher(tmp_path / "missing.log", tmp_path / "nothing.jsonl", launcher_env(data_dir))
    try:
        assert missing.popen.wait(60) == 1
    finally:
        missing.stop()
    assert f"No catalogue at {tmp_path / 'nothing.jsonl'}" in missing.output()
    assert not (data_dir / "pgdata").exists()
