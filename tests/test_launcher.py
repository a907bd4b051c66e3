"""``./dev up`` end to end: the launcher as a subprocess on a tiny catalogue, with its own
embedded PostgreSQL, broker choice, Celery worker and web server, all real processes."""

import json
import os
import re
import signal
import sys
import urllib.request
from datetime import datetime

import psutil
import pytest

from tests.processes import Process, free_port, wait_until

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
    assert exit_code == 0, launcher.output()
    return launcher.output()


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def process_tree(launcher, data_dir):
    """The launcher, what it started, and the embedded PostgreSQL serving ``data_dir``."""
    root = psutil.Process(launcher.popen.pid)
    postmaster_pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    return [root, *root.children(recursive=True), psutil.Process(postmaster_pid)]


def test_first_run_embeds_the_catalogue_and_the_second_run_reuses_it(tmp_path, catalogue):
    data_dir = tmp_path / "var"
    closed_port = free_port()  # nothing listens there: no Redis, so the filesystem broker
    env = launcher_env(data_dir, BOOKREC_LOCAL_REDIS=f"127.0.0.1:{closed_port}")

    first = run_until_embedded(tmp_path, catalogue, env, "first")
    first_ended = datetime.now().astimezone()
    assert "kombu's filesystem transport" in first
    assert "Database: embedded PostgreSQL" in first
    assert "7 created, 0 updated, 0 unchanged, 0 rejected; 6 queued for embedding." in first
    assert re.search(r"login: librarian / \S+\)", first)
    examples = dict(re.findall(r"/api/books/(\d+)/similar/\?limit=5'\s+# (.+)", first))
    assert sorted(examples.values()) == ["Deep Learning", "深度学习入门"]
    assert set(json.loads((tmp_path / "first.json").read_text())) >= {"database_start", "import", "embedding"}

    # Second run: interactive, stopped with Ctrl-C as a terminal sends it (SIGINT to the group).
    port = free_port()
    second = Process([sys.executable, "-m", "library_site.launcher", "--catalogue", str(catalogue),
                      "--port", str(port)], tmp_path / "second.log", env=env)
    try:
        wait_until(lambda: "Press Ctrl-C" in second.output() or not second.alive(), 120, "the second run")
        assert "was imported before: not importing again" in second.output()
        books = get_json(f"http://127.0.0.1:{port}/api/books/?page_size=100")["results"]
        status = {book["external_id"]: book["embedding_status"] for book in books}
        assert status == {**{book["id"]: "embedded" for book in CATALOGUE[:-1]}, "no-summary": "skipped"}
        assert all(datetime.fromisoformat(book["embedded_at"]) < first_ended for book in books if book["embedded_at"])
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


def test_launcher_uses_redis_when_it_answers_on_a_queue_of_its_own(tmp_path, catalogue):
    data_dir = tmp_path / "var"
    output = run_until_embedded(tmp_path, catalogue, launcher_env(data_dir), "redis")
    assert "Celery broker: Redis at 127.0.0.1:6379 (it answered)." in output
    queue = re.search(r"queues\]\s+\.> (bookrec-[0-9a-f]{8})", (data_dir / "log" / "worker.log").read_text())
    assert queue, "the worker did not consume a queue of this checkout's own"
    assert "Every book with a summary is embedded." in output
