"""Bad input to the API: each case gets a clear 4xx naming the problem (never a 500) and
changes nothing. (Bad catalogue files: tests/test_catalogue.py.) See docs/reliability.md
for the table of cases."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from bookrec.models import Book

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    return Book.objects.create(title="Dune", author="Frank Herbert", summary="Politics and sand.", language="en", year=1965)


@pytest.fixture
def staff():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("librarian", "l@example.org", "pw"))
    return client


def catalogue_state():
    return list(Book.objects.order_by("pk").values())


@pytest.mark.parametrize("path, named", [
    # unknown or malformed query parameters (more, with limit 0/-1/10^9: tests/test_api.py)
    ("/api/books/{id}/?fields=title", "fields"),
    ("/api/books/{id}/similar/?subjet=Fiction", "subjet"),
    ("/api/books/?year_min=1965.5", "year_min"),
    ("/api/books/{id}/similar/?year_max=1e30", "year_max"),
    ("/api/books/?author=%00", "author"),
    ("/api/books/?page_size=0", "page_size"),
    ("/api/books/?page_size=1000000000", "page_size"),
    ("/api/books/?page_size=many", "page_size"),
    # search queries: empty and 100,000 characters (more: tests/test_search.py)
    ("/api/search/?q=", "q"),
    ("/api/search/?q=" + "x" * 100_000, "q"),
    # values no column can hold (a choice filter's unknown value: tests/test_api.py)
    ("/api/books/?language=" + "x" * 5000, "language"),
    ("/api/books/{id}/similar/?subject=" + "x" * 300, "subject"),
])
def test_bad_query_parameters_get_400_naming_them(client, book, path, named):
    response = client.get(path.format(id=book.pk))
    assert response.status_code == 400, response.content
    assert named in response.json()


@pytest.mark.parametrize("path", [
    # (non-numeric, unknown and beyond-bigint ids: tests/test_api.py)
    "/api/books/-1/", "/api/books/1.5/similar/",
    "/api/books/?page=999",  # (a page that is no number: tests/test_hardening.py)
])
def test_ids_and_pages_that_name_nothing_get_404(client, book, path):
    assert client.get(path).status_code == 404


def test_a_well_formed_filter_value_no_book_has_is_an_empty_page_not_an_error(client, book):
    response = client.get("/api/books/", {"language": "tlh"})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize("body, named", [
    ([], "non_field_errors"),
    ("Dune", "non_field_errors"),
    (42, "non_field_errors"),
    ({"title": "A book"}, "summary"),
    ({"title": "A book", "summary": ""}, "summary"),
    ({"title": "A book", "summary": " \n\t "}, "summary"),
    ({"title": "A book", "summary": "x" * 1_000_000}, "summary"),
    ({"title": "A book", "summary": "bell\x07 and escape\x1b[31m"}, "summary"),
    ({"title": "A book", "summary": "NUL\x00"}, "summary"),
    ({"title": " ", "summary": "About something."}, "title"),
    ({"title": "A book", "summary": "About something.", "external_id": "x" * 300}, "external_id"),
])
def test_bad_book_bodies_get_400_naming_the_field_and_change_nothing(staff, book, body, named):
    before = catalogue_state()
    response = staff.post("/api/books/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert named in response.json()
    if not isinstance(body, dict) or named in body:  # (a PATCH may leave the summary out)
        response = staff.patch(f"/api/books/{book.pk}/", json.dumps(body), content_type="application/json")
        assert response.status_code == 400, response.content
    assert catalogue_state() == before


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b""])
def test_bodies_that_are_not_json_get_400(staff, book, raw):
    before = catalogue_state()
    response = staff.post("/api/books/", raw, content_type="application/json")
    assert response.status_code == 400
    assert catalogue_state() == before


@pytest.mark.parametrize("raw, named", [
    (b"[]", "non_field_errors"), (b'"liked"', "non_field_errors"), (b"{not json", "detail"), (b"\xff", "detail"),
])
def test_taste_bodies_that_are_not_json_objects_get_400(client, raw, named):
    """(Lists of liked/disliked books that are empty, too long or overlap: tests/test_taste.py.)"""
    response = client.post("/api/recommendations/", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert named in response.json()
