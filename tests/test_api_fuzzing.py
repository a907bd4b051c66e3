"""Schemathesis against the OpenAPI schema (/api/schema/): generated requests, valid and
invalid, to every operation, as a librarian who may do everything and as an anonymous client,
with every check schemathesis has (``--checks all``). No answer may be a 5xx; every status code,
content type, header and body must be one the operation documents; a schema-invalid request
must be refused and a schema-valid one accepted.

A schema cannot say which ids exist or rules between two parameters; ``aim`` points a valid
request at existing books and within those rules (each rule has tests of its own, in
tests/test_hardening.py and tests/test_api.py).

Runs in-process through the WSGI application on the real test database. The number of
examples per operation is FUZZ_EXAMPLES (environment; a few thousand
requests in all with scripts/fuzz_api.sh; the suite runs a few hundred)."""

import base64
import os
import uuid

import numpy as np
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS

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
CHECKS = list(REGISTERED_CHECKS.get_all())


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
    well-formed ones at books that exist (ill-formed ones stay as generated). A valid request
    is also kept within the rules its schema cannot state."""
    book_id = str((case.path_parameters or {}).get("id", ""))
    if book_id.isdigit():
        case.path_parameters["id"] = catalogue[int(book_id) % len(catalogue)]
    if case.meta.generation.mode.is_positive:
        keep_to_unstated_rules(case, catalogue)


def keep_to_unstated_rules(case, catalogue):
    query, body = case.query or {}, case.body
    widen_empty_year_range(query)
    if query.get("mode") == "keyword":  # keyword search has no query vector to compare with
        query.pop("min_similarity", None)
    if isinstance(body, dict) and body.get("external_id"):  # unique: a new book needs one no other has
        body["external_id"] = f"{body['external_id'][:180]}-{uuid.uuid4().hex[:8]}"
    if isinstance(body, dict) and "liked" in body:  # ids of books that exist, none both liked and disliked
        body["liked"] = [catalogue[book_id % len(catalogue)] for book_id in body["liked"]]
        body["disliked"] = [
            catalogue[book_id % len(catalogue)] for book_id in body.get("disliked", [])
            if catalogue[book_id % len(catalogue)] not in body["liked"]
        ]
        if (case.path_parameters or {}).get("model"):
            # A {model} path's body cannot say which filters the model it names has, nor of
            # which types (tests/test_api_models.py tries them).
            body.pop("filters", None)
        widen_empty_year_range(body.get("filters") or {})


def widen_empty_year_range(params):
    """year_min above year_max is a 400 (an empty range): swap them. (A value may be a string.)"""
    low, high = params.get("year_min"), params.get("year_max")
    if low is not None and high is not None and float(low) > float(high):
        params["year_min"], params["year_max"] = high, low


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
