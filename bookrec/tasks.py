"""Celery tasks: thin wrappers that turn a message into a call to ``bookrec.pipeline``."""

import logging
import random

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from bookrec import pipeline
from bookrec.conf import bookrec_settings
from bookrec.embedders import EmbeddingUnavailable

logger = logging.getLogger(__name__)


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
    name="bookrec.embed_books",
    acks_late=True,  # a worker killed mid-batch leaves the message to be redelivered
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # counted against TASK_MAX_RETRIES below, to record the failure
    # The database went away (a restart, a failover) or picked this task as a deadlock
    # victim: the books are still pending, so the task tries again rather than fail and
    # be acknowledged, which would leave them pending until the next sweep.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
)
def embed_books_task(self, book_ids, force=False):
    try:
        report = pipeline.embed_books(book_ids, force=force)
    except EmbeddingUnavailable as exc:
        if self.request.retries >= bookrec_settings.TASK_MAX_RETRIES:
            pipeline.record_failure(book_ids, f"Gave up after {self.request.retries} retries: {exc}")
            return
        pipeline.record_transient_error(book_ids, str(exc))
        raise self.retry(countdown=retry_delay(self.request.retries, exc.retry_after))
    logger.info(
        "Embedded %d books (%d failed, %d changed meanwhile, %d already current).",
        len(report.embedded), len(report.failed), len(report.discarded), len(report.skipped),
    )


@shared_task(name="bookrec.queue_pending", ignore_result=True)
def queue_pending_task():
    queued = pipeline.queue_pending()
    logger.info("Queued %d pending books.", queued)


@worker_ready.connect
def queue_pending_on_worker_start(sender, **kwargs):
    """Pick up books left pending while no worker or broker was there."""
    queue_pending_task.apply_async(**pipeline.task_options())
