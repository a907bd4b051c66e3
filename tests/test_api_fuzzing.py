"""Schemathesis against the OpenAPI schema (/api/schema/): generated requests, valid and
invalid, to every operation, as a librarian who may do everything and as an anonymous client.
No answer may be a 5xx, every status code and content type must be one the operation
documents, and every body must match its documented schema. (Not checked, docs/reliability.md,
"Adversarial run": that a schema-invalid request is refused, which a one-element array in a
query string defeats, being the same bytes as its element; that every schema-valid one is
accepted, which the semantic 400s such as an unknown liked id contradict.)

Runs in-process through the WSGI application on the real test database. The number of
examples per operation is FUZZ_EXAMPLES (environment; a few thousand
requests in all with scripts/fuzz_api.sh; the suite runs a few hundred)."""

import base64
import os

import numpy as np
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bookrec import pipeline
from bookrec.embedders import get_embedder
from bookrec.models import Book
from bookrec.registry import registration_for
from tests.books import content_hash

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 40))
CREDENTIALS = ("fuzzer", "fuzz-password")
AUTHORIZATION = {"Authorization": "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()}

from library_site.wsgi import application  # noqa: E402 - after Django is set up by pytest-django

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture
def catalogue(transactional_db, purge_queue, settings):
    """Ids of books to aim at: embedded ones (with vectors of the configured model, so that
    /similar/ runs its SQL) and a pending one. No throttling: every request gets through."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "bookrec_search": None, "bookrec_reembed": None}}
    get_user_model().objects.create_superuser(CREDENTIALS[0], "f@example.org", CREDENTIALS[1])
    books = [Book.objects.create(title=f"Book {n}", summary=f"About {n}.", language="en", subjects=["Fiction"], year=1900 + n)
             for n in range(4)]
    vectors = np.random.default_rng(0).standard_normal((3, get_embedder().dimensions)).astype(np.float32)
    pipeline.write_vectors(registration_for(Book), [(book.pk, content_hash(book), vector / np.linalg.norm(vector))
                                                    for book, vector in zip(books, vectors)], get_embedder().model_name)
    yield [book.pk for book in books]
    from library_site.celery import app  # every saved book queued a task no worker takes

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(os.environ["BOOKREC_CELERY_QUEUE"])


def aim(case, catalogue):
    """A generated id almost never names a book, and would only ever test the 404: aim
    well-formed ones at books that exist (ill-formed ones stay as generated)."""
    book_id = str((case.path_parameters or {}).get("id", ""))
    if book_id.isdigit():
        case.path_parameters["id"] = catalogue[int(book_id) % len(catalogue)]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_a_librarians_generated_requests_get_documented_answers(case, catalogue):
    aim(case, catalogue)
    case.call_and_validate(headers=AUTHORIZATION, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_anonymous_generated_requests_get_documented_answers(case, catalogue):
    aim(case, catalogue)
    if case.headers:  # no credentials at all (wrong ones: tests/test_hardening.py)
        case.headers.pop("Authorization", None)
    case.call_and_validate(checks=CHECKS)
