import pytest
from django.core.cache import cache
from django.db import connection

from bookrec import indexing
from bookrec.models import Book, Embedding, EmbeddingStatus
from bookrec.registry import registration_for
from bookrec.tasks import START_SWEEP_KEY, retry_delay, sweep_on_worker_start, sweep_task
from tests.processes import free_port, wait_until

SAMPLES = 50


@pytest.mark.parametrize("retries, low, high", [(0, 2.5, 5), (1, 5, 10), (3, 20, 40), (4, 30, 60), (30, 30, 60)])
def test_backoff_doubles_with_jitter_up_to_the_cap(bookrec, retries, low, high):
    bookrec(TASK_RETRY_BACKOFF_MAX=60)
    delays = [retry_delay(retries) for _ in range(SAMPLES)]
    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) > 1  # jittered, so that retries of many tasks spread out


def test_a_longer_retry_after_wins_over_the_backoff(bookrec):
    bookrec(TASK_RETRY_BACKOFF_MAX=60)
    assert retry_delay(0, retry_after=30) == 30
    assert all(2.5 <= retry_delay(0, retry_after=1) <= 5 for _ in range(SAMPLES))


def test_retry_after_is_capped_too(bookrec):
    # A countdown longer than the broker's visibility timeout makes Redis hand the
    # unacknowledged (acks_late) message to a second worker: never wait past the cap.
    bookrec(TASK_RETRY_BACKOFF_MAX=60)
    assert retry_delay(0, retry_after=86400) == 60


def test_a_worker_retries_an_unreachable_server_then_records_the_failure(celery_worker, purge_queue):
    worker = celery_worker(env={
        "EMBEDDING_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "EMBEDDING_DIMENSIONS": "384",
        "BOOKREC_TASK_MAX_RETRIES": "2",
        "BOOKREC_TASK_RETRY_BACKOFF_MAX": "0",
        "BOOKREC_EMBEDDING_MAX_RETRIES": "0",
    })
    book = Book.objects.create(title="Unlucky", summary="Its server is never there.")

    row = Embedding.objects.filter(object_id=book.pk, space="Qwen/Qwen3-Embedding-0.6B@384")
    wait_until(lambda: row.filter(status=EmbeddingStatus.FAILED).exists(), 60, "the worker to give up")
    assert row.get().error.startswith("Gave up after 2 retries: Embedding server unreachable")
    assert row.get().embedding is None
    assert worker.output().count("Retry in") == 2


def test_a_starting_worker_queues_the_books_left_pending(celery_worker, embedding_server, queued_tasks):
    book = Book.objects.create(title="Left behind", summary="Saved while no worker or broker was there.")
    assert [name for name, args, kwargs in queued_tasks()] == ["bookrec.embed"]  # the message is lost
    celery_worker(env={
        "EMBEDDING_BASE_URL": embedding_server,
        "EMBEDDING_MODEL": "multilingual-e5-small",
        "EMBEDDING_DIMENSIONS": "384",
    })

    row = Embedding.objects.filter(object_id=book.pk, space="multilingual-e5-small@384")
    wait_until(lambda: row.filter(status=EmbeddingStatus.EMBEDDED).exists(), 60,
               "the starting worker to pick up the pending book")


def test_workers_starting_together_queue_one_sweep(queued_tasks):
    cache.delete(START_SWEEP_KEY)
    for _ in range(3):
        sweep_on_worker_start(sender=None)
    assert [name for name, args, kwargs in queued_tasks()] == ["bookrec.sweep"]
    cache.delete(START_SWEEP_KEY)  # the window passed
    sweep_on_worker_start(sender=None)
    assert [name for name, args, kwargs in queued_tasks()] == ["bookrec.sweep"]


@pytest.mark.django_db
def test_a_sweep_while_another_runs_does_nothing(purge_queue):
    (book,) = Book.objects.bulk_create([Book(title="Unseen", summary="Saved where no signal saw it.")])
    registration = registration_for(Book)
    other = connection.get_new_connection(connection.get_connection_params())  # another worker's session
    other.autocommit = True
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [indexing.SWEEP_LOCK_KEY])
        sweep_task()
        assert not indexing.embedding_states(registration, [book.pk])
        other.execute("SELECT pg_advisory_unlock(%s)", [indexing.SWEEP_LOCK_KEY])
        sweep_task()
        assert indexing.embedding_states(registration, [book.pk])[book.pk].status == EmbeddingStatus.PENDING
    finally:
        other.close()
