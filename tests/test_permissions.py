"""Permissions and abuse: anonymous clients read, only users with the model permissions
write or re-embed (API and admin), re-embedding is throttled, the embedding server's API key
never leaks, and filters cannot inject SQL. See docs/reliability.md for the table of cases."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from bookrec.models import Book, EmbeddingStatus
from tests import fault_server as fs
from tests.books import set_state, states, status, statuses
from tests.processes import wait_until

BODY = {"title": "New", "summary": "Something new."}


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()  # throttle counts live in the cache
    yield
    cache.clear()


@pytest.fixture
def book(db):
    book = Book.objects.create(title="Dune", author="Frank Herbert", summary="Politics and sand.", language="en")
    set_state(book, status=EmbeddingStatus.EMBEDDED)  # as if done
    return Book.objects.get(pk=book.pk)


def user(username, *permissions, is_staff=False):
    account = get_user_model().objects.create_user(username, password="pw", is_staff=is_staff)
    account.user_permissions.set(Permission.objects.filter(content_type__app_label="bookrec", codename__in=permissions))
    return account


def api_client(account=None):
    client = APIClient()
    if account is not None:
        client.force_authenticate(account)
    return client


def state():
    return list(Book.objects.order_by("pk").values())


def attempts(book):
    """Every way to change the catalogue through the API: (name, response)."""
    client_calls = [
        ("create", lambda c: c.post("/api/books/", BODY, format="json")),
        ("replace", lambda c: c.put(f"/api/books/{book.pk}/", BODY, format="json")),
        ("change", lambda c: c.patch(f"/api/books/{book.pk}/", {"title": "Changed"}, format="json")),
        ("reembed", lambda c: c.post(f"/api/books/{book.pk}/reembed/")),
        ("delete", lambda c: c.delete(f"/api/books/{book.pk}/")),
    ]
    return client_calls


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "reader", "staff without permissions", "viewer"])
def test_clients_without_permissions_read_but_change_nothing(book, who):
    account = {
        "anonymous": None,
        "reader": user("reader"),
        "staff without permissions": user("staff", is_staff=True),
        "viewer": user("viewer", "view_book", is_staff=True),
    }[who]
    client = api_client(account)
    assert client.get("/api/books/").status_code == 200
    assert client.get(f"/api/books/{book.pk}/").status_code == 200
    before = state()
    for name, call in attempts(book):
        response = call(client)
        assert response.status_code in (401, 403), (name, response.status_code)
    assert state() == before


@pytest.mark.django_db
def test_each_write_needs_its_own_permission(book):
    editor = api_client(user("editor", "change_book"))
    assert editor.post("/api/books/", BODY, format="json").status_code == 403
    assert editor.delete(f"/api/books/{book.pk}/").status_code == 403
    assert editor.patch(f"/api/books/{book.pk}/", {"title": "Dune Messiah"}, format="json").status_code == 200
    assert editor.post(f"/api/books/{book.pk}/reembed/").status_code == 202
    assert status(book) == EmbeddingStatus.PENDING

    cataloguer = api_client(user("cataloguer", "add_book", "delete_book"))
    assert cataloguer.post("/api/books/", BODY, format="json").status_code == 201
    assert cataloguer.delete(f"/api/books/{book.pk}/").status_code == 204


# -- admin ------------------------------------------------------------------------------


def admin_client(account):
    client = Client()
    client.force_login(account)
    return client


def run_reembed_action(client, book):
    return client.post("/admin/bookrec/book/", {"action": "reembed_selected", "_selected_action": [book.pk], "index": "0"})


@pytest.mark.django_db
def test_admin_reembedding_needs_change_book(book):
    viewer = admin_client(user("viewer", "view_book", is_staff=True))
    changelist = viewer.get("/admin/bookrec/book/")
    assert changelist.status_code == 200
    assert b"reembed_selected" not in changelist.content and b"reembed-stale" not in changelist.content
    run_reembed_action(viewer, book)
    assert viewer.post("/admin/bookrec/book/reembed-stale/").status_code == 403
    assert viewer.post(f"/admin/bookrec/book/{book.pk}/change/", {"title": "Changed"}).status_code == 403
    assert status(book) == EmbeddingStatus.EMBEDDED

    librarian = admin_client(user("librarian", "view_book", "change_book", is_staff=True))
    assert b"reembed_selected" in librarian.get("/admin/bookrec/book/").content
    assert run_reembed_action(librarian, book).status_code == 302
    assert status(book) == EmbeddingStatus.PENDING


@pytest.mark.django_db
def test_admin_is_closed_to_anonymous_and_non_staff(book):
    for client in (Client(), admin_client(user("reader", "change_book"))):
        assert client.get("/admin/bookrec/book/").status_code == 302  # to the login page
        assert client.post("/admin/bookrec/book/reembed-stale/").status_code == 302
    assert status(book) == EmbeddingStatus.EMBEDDED


# -- throttling -------------------------------------------------------------------------


@pytest.mark.django_db
def test_reembedding_on_request_is_throttled_per_user(settings, book):
    settings.BOOKREC = {**settings.BOOKREC, "THROTTLE_RATES": {"bookrec_reembed": "2/min"}}
    first, second = (api_client(user(name, "change_book")) for name in ("first", "second"))
    assert [first.post(f"/api/books/{book.pk}/reembed/").status_code for _ in range(3)] == [202, 202, 429]
    throttled = first.post(f"/api/books/{book.pk}/reembed/")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert second.post(f"/api/books/{book.pk}/reembed/").status_code == 202


@pytest.mark.django_db
def test_the_sites_drf_rate_wins_over_bookrecs_default(settings, book):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"bookrec_reembed": "1/min"}}
    client = api_client(user("editor", "change_book"))
    assert [client.post(f"/api/books/{book.pk}/reembed/").status_code for _ in range(2)] == [202, 429]


# -- the API key ------------------------------------------------------------------------

API_KEY = "sk-bookrec-canary-5f0c9d2e7a41"


@pytest.mark.django_db(transaction=True)
def test_the_api_key_never_appears_in_logs_stored_errors_or_responses(fault_server, fault_worker, fault_settings, caplog):
    fault_settings.BOOKREC = {**fault_settings.BOOKREC, "EMBEDDING_API_KEY": API_KEY}
    worker = fault_worker(EMBEDDING_API_KEY=API_KEY, BOOKREC_LOG_LEVEL="DEBUG")
    fault_server.misbehave(fs.UNAUTHORIZED)  # the server echoes the key it refuses
    ids = [Book.objects.create(title=f"Book {n}", summary=f"About {n}.").pk for n in range(2)]
    wait_until(lambda: statuses(ids) == {EmbeddingStatus.FAILED: 2}, 60, "the books to fail")
    assert fault_server.authorizations()[0] == f"Bearer {API_KEY}"  # sent, and echoed back

    errors = [row.error for row in states(ids).values()]
    assert errors == ["Embedding server answered HTTP 401: Error code: 401 - Incorrect API key provided: [API key]."] * 2
    admin = admin_client(get_user_model().objects.create_superuser("root", "r@example.org", "pw"))
    pages = [
        APIClient().get("/api/books/").content,
        APIClient().get(f"/api/books/{ids[0]}/").content,
        admin.get("/admin/bookrec/book/").content,
        admin.get(f"/admin/bookrec/book/{ids[0]}/change/").content,
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT string_agg(t::text, '') FROM bookrec_book t")
        table = cursor.fetchone()[0]
    for where, text in [("worker log", worker.output()), ("database", table), ("test log", caplog.text),
                        *((f"page {n}", page.decode()) for n, page in enumerate(pages))]:
        assert API_KEY not in text, where


# -- SQL injection ----------------------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "en'; DROP TABLE bookrec_book; --",
    "%' UNION SELECT id, title FROM auth_user --",
    "x\\' OR 1=1 --",
    '{"a"}; SELECT pg_sleep(0)',
]


@pytest.mark.django_db
@pytest.mark.parametrize("parameter", ["language", "subject", "author"])
@pytest.mark.parametrize("payload", INJECTIONS)
def test_filters_cannot_inject_sql(book, client, parameter, payload):
    Book.objects.create(title="Another", summary="Another book.", subjects=["Fiction"])
    before = state()
    for path in ("/api/books/", f"/api/books/{book.pk}/similar/"):
        response = client.get(path, {parameter: payload})
        assert response.status_code in (200, 400, 409), response.content  # 409: not embedded
        if response.status_code == 200:
            assert response.json()["count"] == 0
        if response.status_code == 400:  # longer than the column: refused before any SQL
            assert list(response.json()) == [parameter]
    staff = admin_client(get_user_model().objects.create_superuser(f"root-{parameter}", "r@example.org", "pw"))
    for query in ({"q": payload}, {"subject": payload}):
        response = staff.get("/admin/bookrec/book/", query)
        assert response.status_code == 200
        assert b"Another" not in response.content
    assert state() == before
