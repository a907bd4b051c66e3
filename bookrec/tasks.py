"""Celery tasks, and how bookrec sends them: thin wrappers that turn a message into a call to
``bookrec.pipeline`` or ``bookrec.indexing``.

Nothing here waits on a broker inside a web request: queueing happens after commit, and a
broker failure leaves the objects pending for the next sweep.
"""

import logging
import random
from functools import partial

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connections, transaction

from bookrec import indexing, pipeline
from bookrec.conf import bookrec_settings
from bookrec.embedders import EmbeddingUnavailable
from bookrec.registry import installed_registrations, registration_for

logger = logging.getLogger(__name__)


# -- sending -------------------------------------------------------------------------


def task_options():
    """Where bookrec's tasks go: ``CELERY_QUEUE``, or Celery's default queue."""
    return {"queue": bookrec_settings.CELERY_QUEUE} if bookrec_settings.CELERY_QUEUE else {}


def queue_embedding(registration, pks, force=False):
    """Send one Celery task per ``TASK_BATCH_SIZE`` objects. Returns how many were queued."""
    queued = 0
    # Read when sent (a task's decorator would read them at import).
    options = {
        **task_options(),
        "soft_time_limit": bookrec_settings.TASK_SOFT_TIME_LIMIT, "time_limit": bookrec_settings.TASK_TIME_LIMIT,
    }
    for chunk in pipeline.chunked(pks, bookrec_settings.TASK_BATCH_SIZE):
        try:
            embed_task.apply_async(args=[registration.label, chunk], kwargs={"force": force}, **options)
        except Exception:  # the broker is down: the objects stay pending for the next sweep
            logger.exception("Could not queue embedding of %d objects; they stay pending.", len(chunk))
            break
        queued += len(chunk)
    return queued


def queue_embedding_on_commit(registration, pks, force=False):
    """Queue after the surrounding transaction commits, so the worker sees the rows."""
    if pks:
        transaction.on_commit(partial(queue_embedding, registration, list(pks), force))


def reembed(queryset, force=True):
    """Embed these objects again (``force``: even those with a current vector). Returns how
    many were queued."""
    registration = registration_for(queryset.model)
    pks = pipeline.mark_for_embedding(registration, queryset)
    queue_embedding_on_commit(registration, pks, force=force)
    return len(pks)


def reembed_stale_or_failed(model):
    """Queue every object of ``model`` that is pending or failed in the active space, or has
    no vector there (another model made its vector)."""
    registration = registration_for(model)
    pks = pipeline.needing_embedding(registration)
    queue_embedding_on_commit(registration, pks)
    return len(pks)


# -- the tasks -----------------------------------------------------------------------


def retry_delay(retries, retry_after=None):
    """Exponential backoff with jitter; a server's Retry-After wins when longer. Both are
    capped: a countdown past the broker's visibility timeout would hand the unacknowledged
    (acks_late) message to a second worker."""
    cap = bookrec_settings.TASK_RETRY_BACKOFF_MAX
    backoff = min(cap, 5 * 2**retries)
    delay = backoff / 2 + random.uniform(0, backoff / 2)
    return min(cap, max(delay, retry_after or 0))


@shared_task(
    bind=True,
    name="bookrec.embed",
    acks_late=True,  # a worker killed mid-batch leaves the message to be redelivered
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # counted against TASK_MAX_RETRIES below, to record the failure
    # The database went away (a restart, a failover) or picked this task as a deadlock
    # victim: the objects are still pending, so the task tries again rather than fail and
    # be acknowledged, which would leave them pending until the next sweep.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
)
def embed_task(self, label, pks, force=False):
    registration = registration_for(label)
    try:
        report = pipeline.embed_objects(registration, pks, force=force)
    except EmbeddingUnavailable as exc:
        return retry_later(self, registration, pks, str(exc), exc.retry_after)
    except SoftTimeLimitExceeded:
        # Raised wherever the task was, perhaps mid-query: start on a fresh connection.
        connections.close_all()
        soft_limit = self.request.timelimit[1]  # the task's own: set where it was sent
        reason = f"The batch took longer than its soft time limit ({soft_limit:g} s, TASK_SOFT_TIME_LIMIT)."
        return retry_later(self, registration, pks, reason)
    logger.info(
        "Embedded %d %s (%d failed, %d changed meanwhile, %d already current or without text).",
        len(report.embedded), label, len(report.failed), len(report.discarded), len(report.skipped),
    )


def retry_later(task, registration, pks, reason, retry_after=None):
    """Note ``reason`` on the objects and retry the task with backoff; once TASK_MAX_RETRIES
    are spent, mark them failed with it instead."""
    if task.request.retries >= bookrec_settings.TASK_MAX_RETRIES:
        pipeline.record_failure(registration, pks, f"Gave up after {task.request.retries} retries: {reason}")
        return
    pipeline.record_transient_error(registration, pks, reason)
    raise task.retry(countdown=retry_delay(task.request.retries, retry_after))


def sweep_and_queue():
    """Sweep every registered model (``indexing.sweep``) and queue what needs embedding.
    Returns ``{label: SweepReport}``."""
    reports = {}
    for registration in installed_registrations():
        report = indexing.sweep(registration)
        queue_embedding(registration, report.missing)
        reports[registration.label] = report
    return reports


# Workers that start within this many seconds of each other share one sweep.
START_SWEEP_WINDOW = 300
START_SWEEP_KEY = "bookrec:start-sweep"


@shared_task(name="bookrec.sweep", ignore_result=True)
def sweep_task():
    """Run periodically (Celery beat) and when a cluster starts; one at a time."""
    with indexing.sweep_lock() as acquired:
        if not acquired:
            logger.info("Another sweep is running: this one is not needed.")
            return
        for label, report in sweep_and_queue().items():
            logger.info(
                "Swept %s: %d checked, %d changed, %d records of deleted objects dropped, %d queued.",
                label, report.checked, len(report.changed), report.forgotten, len(report.missing),
            )


@worker_ready.connect
def sweep_on_worker_start(sender, **kwargs):
    """Pick up objects left pending while no worker or broker was there, and changes no
    signal saw: once per cluster start, not once per worker (each sweep queues every pending
    object). The first worker to start marks it in the default cache; the others see the mark
    if the cache is shared (Redis, the database), and a sweep already running refuses a second."""
    if cache.add(START_SWEEP_KEY, True, timeout=START_SWEEP_WINDOW):
        sweep_task.apply_async(**task_options())
    else:
        logger.info("A worker that started in the last %d s queued the sweep: not queueing another.", START_SWEEP_WINDOW)
