"""What an adversarial run of the API found (docs/reliability.md, "Adversarial run"): each
answer a clean JSON 4xx, or works as documented."""

import base64
import json
import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from bookrec import recommend
from library_site import defaults
from bookrec.models import Book
from tests.books import at_angle, embedded_book
from tests.test_api import client_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def librarian(django_user_model):
    return client_with(django_user_model, "add_book", "change_book", "delete_book", "view_book")


@pytest.fixture
def books():
    return [embedded_book(at_angle(angle), title=f"Book {angle}", year=1900 + angle) for angle in (0, 10, 20, 30)]


def nested(depth):
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_deeply_nested_json_is_a_400(anonymous, books, depth):
    body = '{"liked": %s}' % nested(depth)
    response = anonymous.post("/api/recommendations/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.headers["Content-Type"] == "application/json"
    if depth > 100:  # too deep for Python's decoder: a parse error, not a field error
        assert "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_sites_bound_is_a_json_413(anonymous, librarian, books, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"liked": [books[0].pk], "disliked": [], "pad": "x" * 2000})
    response = anonymous.post("/api/recommendations/", body, content_type="application/json")
    assert response.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    form = librarian.post("/api/books/", {"title": "x" * 2000, "summary": "y"})  # bookrec reads JSON only
    assert form.status_code == 415 and "Unsupported media type" in form.json()["detail"]


def test_a_form_body_cannot_lose_its_filters_it_is_a_415(anonymous, books):
    """JSON only, everywhere: a form cannot say a filters object or a list of subjects without
    ambiguity (a subject "{}" was accepted)."""
    response = anonymous.post("/api/recommendations/", {"liked": books[0].pk, "filters": '{"year_min": "1925"}'})
    assert response.status_code == 415 and "Unsupported media type" in response.json()["detail"]
    as_json = anonymous.post(
        "/api/recommendations/", {"liked": [books[0].pk], "filters": {"year_min": "1925"}}, format="json"
    )
    assert [row["book"]["title"] for row in as_json.json()["results"]] == ["Book 30"]


def test_writes_without_the_trailing_slash_work(anonymous, librarian, books):
    with_slash = anonymous.post("/api/recommendations/", {"liked": [books[0].pk]}, format="json")
    without = anonymous.post("/api/recommendations", {"liked": [books[0].pk]}, format="json")
    assert without.status_code == 200 and without.json() == with_slash.json()
    created = librarian.post("/api/books", {"title": "New", "summary": "About gardens."}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert librarian.patch(f"/api/books/{pk}", {"title": "Newer"}, format="json").status_code == 200
    assert librarian.post(f"/api/books/{pk}/reembed").status_code == 202
    assert anonymous.get(f"/api/books/{books[0].pk}/similar", {"limit": 2}).status_code == 200
    assert anonymous.delete(f"/api/books/{pk}").status_code in (401, 403)
    assert librarian.delete(f"/api/books/{pk}").status_code == 204 and not Book.objects.filter(pk=pk).exists()


def test_the_schema_lists_each_path_once_with_its_slash(anonymous):
    paths = anonymous.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "/api/recommendations/" in paths and all(path.endswith("/") for path in paths)


@pytest.mark.parametrize("path", [
    "/api/books/?year_min=2000&year_max=1000",
    "/api/books/{id}/similar/?year_min=2000&year_max=1000",
    "/api/search/?q=x&mode=keyword&year_min=2000&year_max=1000",
])
def test_an_empty_year_range_is_a_400_naming_it(anonymous, books, path):
    response = anonymous.get(path.format(id=books[0].pk))
    assert response.status_code == 400, response.content
    assert "year_min" in response.json() and "year_max" in response.json()["year_min"][0]
    same_year = anonymous.get(path.format(id=books[0].pk).replace("2000", "1910").replace("1000", "1910"))
    assert same_year.status_code == 200


def test_an_empty_range_is_an_error_in_python_and_in_a_json_body_too(anonymous, books):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="year_min"):
        recommend.similar(books[0], filters={"year_min": 2000, "year_max": 1000})
    response = anonymous.post(
        "/api/recommendations/", {"liked": [books[0].pk], "filters": {"year_min": "2000", "year_max": "1000"}},
        format="json",
    )
    assert response.status_code == 400 and "year_min" in response.json()["filters"]


def test_a_host_models_range_filters_are_checked_the_same_way():
    from bookrec.registry import Registration

    filterset_class = Registration("bookrec.Book", {"TEXT": ["title"], "FILTERS": {"year": ["gte", "lte"]}}).filterset_class
    filterset = filterset_class({"year__gte": "2000", "year__lte": "1000"}, queryset=Book.objects.all())
    assert not filterset.is_valid() and "year__gte" in filterset.errors
    assert filterset_class({"year__gte": "1000", "year__lte": "2000"}, queryset=Book.objects.all()).is_valid()


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "last-but-one"])
def test_a_page_that_is_no_page_number_is_a_400_naming_it(anonymous, books, page):
    response = anonymous.get("/api/books/", {"page": page})
    assert response.status_code == 400 and "page" in response.json()


def test_pages_past_the_last_are_404_and_last_is_the_last(anonymous, books):
    assert anonymous.get("/api/books/", {"page": 2}).status_code == 404
    assert anonymous.get("/api/books/", {"page": "last"}).json()["count"] == 4


def test_embedding_internals_are_for_staff_only(anonymous, librarian, books):
    public = anonymous.get(f"/api/books/{books[0].pk}/").json()
    assert public["embedding_status"] == "embedded"
    assert public["embedding_model"] is public["embedding_error"] is public["embedded_at"] is None
    listed = anonymous.get("/api/books/").json()["results"]
    assert all(book["embedding_model"] is None and book["embedded_at"] is None for book in listed)
    staff = librarian.get(f"/api/books/{books[0].pk}/").json()
    assert staff["embedding_model"] and staff["embedded_at"] and staff["embedding_error"] == ""


# -- the example site's policies ---------------------------------------------------------


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.parametrize("username, password", [
    ("a\x00b", "secret-password"), ("librarian", "secret\x00password"),
    ("x" * 151, "secret-password"), ("librarian", "x" * 4097),
])
def test_credentials_no_account_can_have_are_a_401_before_any_query(
    anonymous, django_user_model, django_assert_num_queries, login_failures_forgotten, username, password
):
    django_user_model.objects.create_user("librarian", password="secret-password")
    with django_assert_num_queries(0):
        response = anonymous.get("/api/books/", HTTP_AUTHORIZATION=basic(username, password))
    assert response.status_code == 401 and response.json()["detail"] == "Invalid username/password."
    assert b"secret" not in response.content
    right = anonymous.get("/api/books/", HTTP_AUTHORIZATION=basic("librarian", "secret-password"))
    assert right.status_code == 200


def test_a_forwarded_for_header_does_not_reset_the_search_throttle(anonymous, books, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"bookrec_search": "2/min"}}
    cache.clear()
    search = {"q": "book", "mode": "keyword"}
    assert [anonymous.get("/api/search/", search).status_code for _ in range(3)] == [200, 200, 429]
    for address in ("10.9.1.1", "10.9.1.2"):
        assert anonymous.get("/api/search/", search, HTTP_X_FORWARDED_FOR=address).status_code == 429
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # behind one proxy of the site's
    assert anonymous.get("/api/search/", search, HTTP_X_FORWARDED_FOR="10.9.1.3").status_code == 200


@pytest.mark.parametrize("broker, backend, location", [
    ("redis://127.0.0.1:6379/0", "RedisCache", "redis://127.0.0.1:6379/1"),
    ("redis://:pw@cache:6380/3", "RedisCache", "redis://:pw@cache:6380/4"),
    ("amqp://guest@localhost//", "DatabaseCache", "library_site_cache"),
    ("filesystem://", "DatabaseCache", "library_site_cache"),
])
def test_the_example_site_caches_where_every_process_sees_it(broker, backend, location):
    cache_settings = defaults.shared_cache(broker)
    assert cache_settings["BACKEND"].endswith(backend) and cache_settings["LOCATION"] == location


@pytest.mark.django_db(transaction=True)
def test_a_count_one_process_keeps_is_seen_by_another():
    """What two gunicorn workers need for one throttle: the same counts."""
    key = f"hardening-{uuid.uuid4()}"
    test_database = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "library_site.settings", "DATABASE_URL": urlunsplit(test_database)}
    code = f"import django; django.setup(); from django.core.cache import cache; cache.set({key!r}, 41); cache.incr({key!r})"
    subprocess.run([sys.executable, "-c", code], env=environment, check=True, timeout=60)
    assert cache.get(key) == 42


@pytest.fixture
def login_failures_forgotten():
    """The counts of failed logins this test makes live in the shared cache: gone before and after."""
    keys = [f"login-failures:{kind}" for kind in ("user:librarian", "user:reader", "address:127.0.0.1", "address:10.0.0.9")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def test_password_guessing_is_throttled_per_account_and_per_address(anonymous, django_user_model, login_failures_forgotten):
    django_user_model.objects.create_user("librarian", password="secret-password")
    django_user_model.objects.create_user("reader", password="reader-password")
    guesses = [
        anonymous.get("/api/books/", HTTP_AUTHORIZATION=basic("librarian", f"guess-{n}")).status_code
        for n in range(10)
    ]
    assert guesses == [401] * 10
    right = anonymous.get("/api/books/", HTTP_AUTHORIZATION=basic("librarian", "secret-password"))
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0  # locked, the right password too
    elsewhere = APIClient(REMOTE_ADDR="10.0.0.9")
    assert elsewhere.get("/api/books/", HTTP_AUTHORIZATION=basic("librarian", "secret-password")).status_code == 429
    assert elsewhere.get("/api/books/", HTTP_AUTHORIZATION=basic("reader", "reader-password")).status_code == 200
    # the guessing address is locked for every account
    assert anonymous.get("/api/books/", HTTP_AUTHORIZATION=basic("reader", "reader-password")).status_code == 429



def test_the_schema_documents_every_answer_and_bound(anonymous):
    schema = anonymous.get("/api/schema/", {"format": "json"}).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "503"} <= codes, (method, path, codes)
            assert "{" not in path or "404" in codes, (method, path)
            if method in {"post", "put", "patch"}:
                body = operation.get("requestBody", {"content": {"application/json": {}}})  # reembed: none
                assert {"413", "415"} <= codes and set(body["content"]) == {"application/json"}
            anonymous_allowed = {} in operation["security"]
            assert anonymous_allowed == (method == "get" or path.endswith("recommendations/")), (method, path)
    assert "429" in schema["paths"]["/api/search/"]["get"]["responses"]
    parameters = {p["name"]: p for p in schema["paths"]["/api/books/{id}/similar/"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 100
    pages = {p["name"]: p["schema"] for p in schema["paths"]["/api/books/"]["get"]["parameters"]}
    assert pages["page"]["minimum"] == 1 and pages["page_size"] == {"type": "integer", "minimum": 1, "maximum": 100}


def test_the_schema_states_what_the_server_refuses(anonymous, settings):
    """What schemathesis' negative_data_rejection and positive_data_acceptance hold the server to
    (tests/test_api_fuzzing.py): each bound the server enforces, in the schema."""
    schema = anonymous.get("/api/schema/", {"format": "json"}).json()
    similar = {p["name"]: p["schema"] for p in schema["paths"]["/api/books/{id}/similar/"]["get"]["parameters"]}
    assert similar["id"] == {"type": "integer"}
    assert similar["year_max"] == {"type": "integer", "minimum": -32768, "maximum": 32767}  # the column's bounds
    assert similar["language"] == {"type": "string", "minLength": 1, "maxLength": 16, "pattern": "^[^\\u0000]+$"}
    assert similar["rerank"]["enum"] == [False, None]  # no reranker here
    search = {p["name"]: p["schema"] for p in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert search["q"]["maxLength"] == 500 and search["q"]["pattern"].startswith("^[^\\u0000-")
    components = schema["components"]["schemas"]
    assert components["BookTaste"]["additionalProperties"] is False and components["Book"]["additionalProperties"] is False
    assert components["BookFilters"]["properties"]["year_min"]["type"] == "integer"
    assert not any("{format}" in path for path in schema["paths"])
    settings.BOOKREC = {**settings.BOOKREC, "RERANK_BASE_URL": "http://127.0.0.1:9/v1", "MAX_QUERY_CHARS": 80}
    schema = anonymous.get("/api/schema/", {"format": "json"}).json()
    search = {p["name"]: p["schema"] for p in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert "enum" not in search["rerank"] and search["q"]["maxLength"] == 80


@pytest.mark.parametrize("text", ["a\x01b", "   ", "\x7f"])
def test_control_characters_or_nothing_but_spaces_are_400s_where_text_is_required(anonymous, librarian, books, text):
    response = anonymous.get("/api/search/", {"q": text})
    assert response.status_code == 400 and list(response.json()) == ["q"]
    payload = {"title": "A book", "summary": "About it.", "subjects": ["History", text]}
    response = librarian.post("/api/books/", payload, format="json")
    assert response.status_code == 400 and list(response.json()) == ["subjects"], response.content


def test_a_misspelt_field_is_a_400_naming_it_and_read_only_ones_may_come_back(librarian, books):
    book = books[0]
    response = librarian.patch(f"/api/books/{book.pk}/", {"sumary": "Lost, were it ignored."}, format="json")
    assert response.status_code == 400 and response.json() == {"sumary": ["Unknown field."]}
    as_read = librarian.get(f"/api/books/{book.pk}/").json()
    response = librarian.put(f"/api/books/{book.pk}/", {**as_read, "title": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "Renamed"
    assert librarian.get(f"/api/books.json").status_code == 404  # ?format=json, as on every endpoint


@pytest.mark.parametrize("year, accepted", [(-750, True), (3000, False), (99999, False), (-5000, False)])
def test_a_books_year_has_the_bounds_the_importer_and_the_admin_keep(librarian, year, accepted):
    response = librarian.post("/api/books/", {"title": "A book", "summary": "About it.", "year": year}, format="json")
    if accepted:
        assert response.status_code == 201 and response.json()["year"] == year
    else:
        assert response.status_code == 400 and list(response.json()) == ["year"] and len(response.json()["year"]) == 1


def test_filters_in_a_json_body_have_the_types_of_their_query_parameters(anonymous, books):
    def recommend_with(filters):
        return anonymous.post("/api/recommendations/", {"liked": [books[0].pk], "filters": filters}, format="json")

    assert recommend_with({"year_min": "later"}).json() == {"filters": {"year_min": ["A valid integer is required."]}}
    assert list(recommend_with({"year_max": 99999}).json()["filters"]) == ["year_max"]
    years = [result["book"]["year"] for result in recommend_with({"year_min": 1920, "year_max": "1930"}).json()["results"]]
    assert years == [1920, 1930] or years == [1930, 1920]
    everything = recommend_with({}).json()["results"]
    assert recommend_with({"author": "  "}).json()["results"] == everything  # spaces alone: no filter, as in a query


@pytest.mark.parametrize("path", ["/api/books/{id}/similar/?mode=", "/api/search/?q=x&mode="])
def test_a_blank_mode_is_a_400_naming_it(anonymous, books, path):
    response = anonymous.get(path.format(id=books[0].pk))
    assert response.status_code == 400 and "mode" in response.json()


@pytest.mark.parametrize("path, name", [
    ("/api/books/?embedding_status=", "embedding_status"), ("/api/books/?year_max=&language=en", "year_max"),
    ("/api/books/{id}/similar/?year_max=", "year_max"), ("/api/search/?q=x&language=", "language"),
])
def test_a_blank_filter_is_a_400_naming_it_not_no_filter(anonymous, books, path, name):
    response = anonymous.get(path.format(id=books[0].pk))
    assert response.status_code == 400 and response.json() == {name: ["This field may not be blank."]}


def test_blank_filters_in_a_json_body_are_400s_as_in_a_query_string(anonymous, books):
    body = {"liked": [books[0].pk], "filters": {"language": "", "year_min": "1900"}}
    response = anonymous.post("/api/recommendations/", body, format="json")
    assert response.status_code == 400 and list(response.json()["filters"]) == ["language"]


@pytest.mark.parametrize("path, name", [
    ("/api/books/?year_max=1910&year_max=1920", "year_max"),
    ("/api/books/{id}/similar/?limit=2&limit=3", "limit"),
    ("/api/search/?q=x&q=y", "q"),
])
def test_a_parameter_given_twice_is_a_400_naming_it(anonymous, books, path, name):
    response = anonymous.get(path.format(id=books[0].pk))
    assert response.status_code == 400 and response.json() == {name: ["Given more than once."]}




def test_a_path_no_api_view_matches_is_a_json_404_under_api(anonymous):
    """The example site's handler404: an id that is no number never reaches a DRF view."""
    response = anonymous.get("/api/books/abc/similar/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    page = anonymous.get("/no-such-page/")
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
