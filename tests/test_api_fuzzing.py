"""Schemathesis against the OpenAPI schema (/api/schema/): generated requests, valid and
invalid, to every operation, as a librarian who may do everything; none may get a 5xx.

Runs in-process through the WSGI application on the real test database. The number of
examples per operation is FUZZ_EXAMPLES (environment; a few thousand
requests in all with scripts/fuzz_api.sh; the suite runs a few hundred)."""

import base64
import os

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from bookrec.models import Book, EmbeddingStatus

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 40))
CREDENTIALS = ("fuzzer", "fuzz-password")


from library_site.wsgi import application  # noqa: E402 - after Django is set up by pytest-django

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def catalogue(transactional_db, purge_queue):
    get_user_model().objects.create_superuser(CREDENTIALS[0], "f@example.org", CREDENTIALS[1])
    books = [Book.objects.create(title=f"Book {n}", summary=f"About {n}.", language="en", subjects=["Fiction"]) for n in range(3)]
    Book.objects.filter(pk=books[0].pk).update(embedding_status=EmbeddingStatus.EMBEDDED)
    yield
    from library_site.celery import app  # every saved book queued a task no worker takes

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(os.environ["BOOKREC_CELERY_QUEUE"])


AUTHORIZATION = {"Authorization": "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error(case):
    case.call_and_validate(headers=AUTHORIZATION, checks=[not_a_server_error])
