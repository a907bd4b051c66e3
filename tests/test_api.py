import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bookrec.models import Book, EmbeddingStatus
from tests.books import at_angle, embedded_book, make_book, set_state, state, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous():
    return APIClient()


def client_with(django_user_model, *codenames, username="librarian"):
    user = django_user_model.objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="bookrec", codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def librarian(django_user_model):
    return client_with(django_user_model, "add_book", "change_book", "delete_book", "view_book")


@pytest.fixture
def viewer(django_user_model):
    return client_with(django_user_model, "view_book", username="viewer")


@pytest.fixture
def neighbours():
    """A book and its neighbours 10°, 30° and 60° away."""
    query = embedded_book(at_angle(0), title="Query", language="en", subjects=["AI"], author="Ann Query")
    embedded_book(at_angle(10), title="Near", language="en", subjects=["AI"], author="Bo Near")
    embedded_book(at_angle(30), title="Middle", language="fr", subjects=["Cooking"], author="Cy Middle")
    embedded_book(at_angle(60), title="Far", language="en", subjects=["AI", "Cooking"], author="Di Far")
    return query


def similar_titles(response):
    assert response.status_code == 200, response.content
    return [r["book"]["title"] for r in response.json()["results"]]


# -- the catalogue -------------------------------------------------------------------


def test_anyone_lists_books_paginated(anonymous):
    for i in range(25):
        make_book(title=f"Book {i:02d}")
    first = anonymous.get("/api/books/").json()
    assert first["count"] == 25 and len(first["results"]) == 20 and first["next"]
    second = anonymous.get("/api/books/", {"page": 2}).json()
    assert [b["title"] for b in second["results"]] == [f"Book {i}" for i in range(20, 25)]
    assert len(anonymous.get("/api/books/", {"page_size": 5}).json()["results"]) == 5


def test_the_list_filters(anonymous, neighbours):
    make_book(title="Pending one", language="en")
    assert {b["title"] for b in anonymous.get("/api/books/", {"language": "fr"}).json()["results"]} == {"Middle"}
    assert {b["title"] for b in anonymous.get("/api/books/", {"subject": "Cooking"}).json()["results"]} == {"Middle", "Far"}
    assert {b["title"] for b in anonymous.get("/api/books/", {"author": "near"}).json()["results"]} == {"Near"}
    assert [b["title"] for b in anonymous.get("/api/books/", {"embedding_status": "pending"}).json()["results"]] == ["Pending one"]


@pytest.mark.parametrize("params, field", [
    ({"year_min": "abc"}, "year_min"),
    ({"embedding_status": "done"}, "embedding_status"),
    ({"langauge": "en"}, "langauge"),
])
def test_a_bad_list_parameter_is_a_400_naming_it(anonymous, params, field):
    response = anonymous.get("/api/books/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_anyone_reads_one_book_with_its_embedding_state(anonymous, viewer, neighbours):
    body = anonymous.get(f"/api/books/{neighbours.pk}/").json()
    assert body["title"] == "Query"
    assert body["embedding_status"] == "embedded" and body["embedding_model"] is None  # staff only
    assert "embedding" not in body
    assert viewer.get(f"/api/books/{neighbours.pk}/").json()["embedding_model"]


@pytest.mark.parametrize("path", ["/api/books/999999/", "/api/books/abc/", "/api/books/99999999999999999999/"])
def test_an_unknown_book_is_a_404(anonymous, path):
    assert anonymous.get(path).status_code == 404


def test_anonymous_users_cannot_write(anonymous, neighbours):
    assert anonymous.post("/api/books/", {"title": "New"}).status_code in (401, 403)
    assert anonymous.patch(f"/api/books/{neighbours.pk}/", {"title": "X"}).status_code in (401, 403)
    assert anonymous.delete(f"/api/books/{neighbours.pk}/").status_code in (401, 403)
    assert Book.objects.filter(title="Query").exists()


def test_a_librarian_creates_updates_and_deletes(librarian, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        created = librarian.post(
            "/api/books/",
            {"title": "New", "author": "Ann", "summary": "About gardens.", "language": "en", "subjects": ["Gardens"], "year": 2001},
            format="json",
        )
    assert created.status_code == 201, created.content
    assert created.json()["embedding_status"] == "pending"
    assert len(callbacks) == 1
    pk = created.json()["id"]
    updated = librarian.patch(f"/api/books/{pk}/", {"summary": "About small gardens."}, format="json")
    assert updated.status_code == 200 and Book.objects.get(pk=pk).summary == "About small gardens."
    assert librarian.delete(f"/api/books/{pk}/").status_code == 204
    assert not Book.objects.filter(pk=pk).exists()


def test_embedding_fields_are_read_only(librarian, neighbours):
    response = librarian.patch(f"/api/books/{neighbours.pk}/", {"embedding_status": "failed", "embedding_model": "x"}, format="json")
    assert response.status_code == 200
    assert response.json()["embedding_status"] == "embedded" and response.json()["embedding_model"] != "x"
    assert status(neighbours) == "embedded" and state(neighbours).space != "x"


@pytest.mark.parametrize("payload, field", [
    ({"title": ""}, "title"),
    ({"title": "x" * 501}, "title"),
    ({"title": "Bell\x07"}, "title"),
    ({"title": "ok", "summary": "nul\x00byte"}, "summary"),
    ({"title": "ok", "year": 10**6}, "year"),
    ({"title": "ok", "year": "soon"}, "year"),
    ({"title": "ok", "subjects": "not a list"}, "subjects"),
    ({"title": "ok", "language": "x" * 17}, "language"),
    ({"title": "ok", "external_id": "dup"}, "external_id"),
])
def test_a_bad_book_is_a_400_naming_the_field(librarian, payload, field):
    make_book(title="Existing", external_id="dup")
    response = librarian.post("/api/books/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_staff_user_can_reembed_and_a_viewer_cannot(librarian, viewer, neighbours, django_capture_on_commit_callbacks):
    set_state(neighbours, status=EmbeddingStatus.FAILED)
    assert viewer.post(f"/api/books/{neighbours.pk}/reembed/").status_code == 403
    assert APIClient().post(f"/api/books/{neighbours.pk}/reembed/").status_code in (401, 403)
    assert status(neighbours) == EmbeddingStatus.FAILED
    with django_capture_on_commit_callbacks() as callbacks:
        response = librarian.post(f"/api/books/{neighbours.pk}/reembed/")
    assert response.status_code == 202 and response.json() == {"queued": 1}
    assert len(callbacks) == 1
    assert status(neighbours) == EmbeddingStatus.PENDING


def test_reembed_of_an_unknown_book_is_a_404(librarian):
    assert librarian.post("/api/books/999999/reembed/").status_code == 404


# -- similar books ---------------------------------------------------------------------


def test_similar_books_nearest_first_with_similarity(anonymous, neighbours):
    response = anonymous.get(f"/api/books/{neighbours.pk}/similar/")
    assert similar_titles(response) == ["Near", "Middle", "Far"]
    similarities = [r["similarity"] for r in response.json()["results"]]
    assert similarities == pytest.approx([0.985, 0.866, 0.5], abs=2e-3)


def test_similar_books_honour_limit_and_filters(anonymous, neighbours):
    url = f"/api/books/{neighbours.pk}/similar/"
    assert similar_titles(anonymous.get(url, {"limit": 2})) == ["Near", "Middle"]
    assert similar_titles(anonymous.get(url, {"language": "en"})) == ["Near", "Far"]
    # The filters narrow the candidates: the (English) book itself is still found.
    assert similar_titles(anonymous.get(url, {"language": "fr"})) == ["Middle"]
    assert similar_titles(anonymous.get(url, {"subject": "Cooking"})) == ["Middle", "Far"]
    assert similar_titles(anonymous.get(url, {"author": "far"})) == ["Far"]
    assert similar_titles(anonymous.get(url, {"language": "de"})) == []


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": str(10**9)}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "2.5"}, "limit"),
    ({"year_min": "abc"}, "year_min"),
    ({"limt": "3"}, "limt"),
])
def test_a_bad_similar_parameter_is_a_400_naming_it(anonymous, neighbours, params, field):
    response = anonymous.get(f"/api/books/{neighbours.pk}/similar/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("path", ["999999", "abc", "99999999999999999999", "-1"])
def test_similar_for_an_unknown_book_is_a_404(anonymous, path):
    assert anonymous.get(f"/api/books/{path}/similar/").status_code == 404


def test_similar_for_a_book_not_embedded_yet_is_a_409_with_its_status(anonymous, neighbours):
    pending = make_book(title="Pending")
    response = anonymous.get(f"/api/books/{pending.pk}/similar/")
    assert response.status_code == 409
    assert response.json()["embedding_status"] == "pending"
    assert "no embedding" in response.json()["detail"]


# -- the schema and its docs page --------------------------------------------------------


def test_the_openapi_schema_and_the_docs_page_answer(anonymous):
    schema = anonymous.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/books/{id}/similar/" in paths
    parameters = {p["name"] for p in paths["/api/books/{id}/similar/"]["get"]["parameters"]}
    assert {"limit", "language", "subject", "author"} <= parameters
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_the_format_parameter_of_drf_is_not_an_unknown_parameter(anonymous, neighbours):
    # The browsable API links each page as ?format=json and ?format=api.
    assert anonymous.get("/api/books/", {"format": "json"}).status_code == 200
    assert similar_titles(anonymous.get(f"/api/books/{neighbours.pk}/similar/", {"format": "json"})) == ["Near", "Middle", "Far"]
    assert anonymous.get("/api/books/", {"format": "api"}).status_code == 200


def test_the_browsable_apis_filter_form_names_every_filter(anonymous):
    page = anonymous.get("/api/books/", {"format": "api"}).content.decode()
    assert "[invalid name]" not in page  # django-filter's label for a filter with no model field
    assert "Subject" in page and "Embedding status" in page


def test_a_page_of_books_reads_their_embedding_states_in_one_query(anonymous, django_assert_num_queries):
    for i in range(3):
        make_book(title=f"Book {i}")
    with CaptureQueriesContext(connection) as few:
        assert len(anonymous.get("/api/books/").json()["results"]) == 3
    for i in range(3, 20):
        make_book(title=f"Book {i}")
    with django_assert_num_queries(len(few)):  # the same queries for 20 books as for 3
        books = anonymous.get("/api/books/", {"embedding_status": "pending"}).json()["results"]
    assert len(books) == 20 and {book["embedding_status"] for book in books} == {"pending"}
    assert anonymous.get("/api/books/", {"embedding_status": "embedded"}).json()["count"] == 0
