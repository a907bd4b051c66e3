"""bookrec's API inside a site with policies of its own: the site's REST_FRAMEWORK defaults
(permissions, authentication, throttles, exception handler) apply, BOOKREC's API_* settings
override them, writes always need the model permissions, and the schema and its docs come with
bookrec.urls wherever it is mounted. See docs/reliability.md, "Permissions and abuse"."""

import base64

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import OperationalError
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from bookrec.api.views import BookViewSet
from bookrec.models import Book
from tests.books import at_angle, embedded_book

pytestmark = pytest.mark.django_db

BODY = {"title": "New", "summary": "Something new."}
PASSWORD = "pw"


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def book():
    embedded_book(at_angle(10), title="Near")
    return embedded_book(at_angle(0), title="Query", language="en")


def user(username, *permissions):
    account = get_user_model().objects.create_user(username, password=PASSWORD)
    account.user_permissions.set(Permission.objects.filter(content_type__app_label="bookrec", codename__in=permissions))
    return account


def authenticated(account):
    client = APIClient()
    client.force_authenticate(account)
    return client


def basic_auth(account):
    """A client sending the account's credentials (HTTP Basic), as a script would."""
    token = base64.b64encode(f"{account.username}:{PASSWORD}".encode()).decode()
    return APIClient(HTTP_AUTHORIZATION=f"Basic {token}")


def reads(book):
    """Every reading endpoint: (name, call)."""
    return [
        ("list", lambda c: c.get("/api/books/")),
        ("detail", lambda c: c.get(f"/api/books/{book.pk}/")),
        ("similar", lambda c: c.get(f"/api/books/{book.pk}/similar/", {"mode": "vector"})),
        ("search", lambda c: c.get("/api/search/", {"q": "query", "mode": "keyword"})),
        ("recommendations", lambda c: c.post("/api/recommendations/", {"liked": [book.pk]}, format="json")),
        ("model similar", lambda c: c.get(f"/api/models/bookrec.book/{book.pk}/similar/", {"mode": "vector"})),
        ("model search", lambda c: c.get("/api/models/bookrec.book/search/", {"q": "query", "mode": "keyword"})),
        ("model recommendations", lambda c: c.post("/api/models/bookrec.book/recommendations/", {"liked": [book.pk]}, format="json")),
    ]


def statuses(client, calls):
    return {name: call(client).status_code for name, call in calls}


@pytest.fixture
def members_only(settings):
    """A site whose default policy is: logged-in users only."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}


# -- permissions ----------------------------------------------------------------------------


def test_the_sites_default_permission_applies_to_every_endpoint(members_only, book):
    refused = statuses(APIClient(), reads(book))
    assert set(refused.values()) <= {401, 403}, refused
    allowed = statuses(authenticated(user("reader")), reads(book))
    assert set(allowed.values()) == {200}, allowed


def test_bookrecs_own_permission_setting_overrides_the_sites_for_reads(members_only, settings, book):
    settings.BOOKREC = {**settings.BOOKREC, "API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
    assert set(statuses(APIClient(), reads(book)).values()) == {200}


@pytest.mark.parametrize("policy", ["site AllowAny", "BOOKREC AllowAny"])
def test_writes_need_the_model_permissions_whatever_the_policy(settings, book, policy):
    if policy == "site AllowAny":
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
    else:
        settings.BOOKREC = {**settings.BOOKREC, "API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
    writes = [
        ("create", lambda c: c.post("/api/books/", BODY, format="json")),
        ("change", lambda c: c.patch(f"/api/books/{book.pk}/", {"title": "Changed"}, format="json")),
        ("reembed", lambda c: c.post(f"/api/books/{book.pk}/reembed/")),
        ("delete", lambda c: c.delete(f"/api/books/{book.pk}/")),
    ]
    for client in (APIClient(), authenticated(user("reader"))):
        refused = statuses(client, writes)
        assert set(refused.values()) <= {401, 403}, refused
    assert Book.objects.filter(pk=book.pk, title="Query").exists()
    librarian = authenticated(user("librarian", "add_book", "change_book", "delete_book"))
    assert statuses(librarian, writes) == {"create": 201, "change": 200, "reembed": 202, "delete": 204}


def test_the_sites_authentication_applies_unless_bookrec_names_its_own(members_only, settings, book):
    script = basic_auth(user("script"))
    assert script.get("/api/books/").status_code == 200  # the site's defaults take HTTP Basic
    settings.BOOKREC = {**settings.BOOKREC, "API_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"]}
    assert script.get("/api/books/").status_code in (401, 403)
    assert script.get(f"/api/books/{book.pk}/similar/").status_code in (401, 403)


# -- throttles ----------------------------------------------------------------------------


class TwoPerMinute(AnonRateThrottle):
    """A site's throttle (its rate its own: DRF reads DEFAULT_THROTTLE_RATES once, at import)."""

    rate = "2/min"


def test_the_sites_throttles_apply_and_bookrecs_embedding_throttle_stays(settings, book):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["tests.test_api_host.TwoPerMinute"],
        "DEFAULT_THROTTLE_RATES": {"bookrec_search": "3/min"},
    }
    client = APIClient()
    assert [client.get(f"/api/books/{book.pk}/similar/").status_code for _ in range(3)] == [200, 200, 429]

    settings.BOOKREC = {**settings.BOOKREC, "API_THROTTLE_CLASSES": []}  # none of the site's
    cache.clear()
    assert [client.get(f"/api/books/{book.pk}/similar/").status_code for _ in range(3)] == [200, 200, 200]
    search = [client.get("/api/search/", {"q": "query", "mode": "keyword"}).status_code for _ in range(4)]
    assert search == [200, 200, 200, 429]  # bookrec_search: each new query costs an embedding


def test_a_sites_scoped_throttle_leaves_bookrecs_scopes_alone(settings, book):
    # The site's ScopedRateThrottle with no rate for bookrec's scopes: no ImproperlyConfigured.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"uploads": "1/min"},
    }
    assert APIClient().get("/api/search/", {"q": "query", "mode": "keyword"}).status_code == 200


# -- the database going away ---------------------------------------------------------------


def marking_exception_handler(exc, context):
    """A site's own exception handler: it marks what it answered."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        response["X-Site-Handler"] = "yes"
    return response


@pytest.mark.parametrize("handler", [None, "tests.test_api_host.marking_exception_handler"])
def test_a_lost_database_is_a_503_through_the_sites_own_exception_handler(settings, monkeypatch, book, handler):
    assert "EXCEPTION_HANDLER" not in settings.REST_FRAMEWORK  # the example site sets none
    if handler:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": handler}

    def unreachable(self, queryset):
        raise OperationalError("connection to server failed")

    monkeypatch.setattr(BookViewSet, "filter_queryset", unreachable)
    response = APIClient().get("/api/books/")
    assert (response.status_code, response["Retry-After"], response.json()["detail"]) == (
        503, "5", "The catalogue's database cannot be reached just now; try again shortly.")
    other = APIClient().get("/api/models/nowhere.thing/1/similar/")
    assert other.status_code == 404
    assert (response.get("X-Site-Handler"), other.get("X-Site-Handler")) == (("yes", "yes") if handler else (None, None))


# -- schema and docs -----------------------------------------------------------------------


def test_the_schema_and_docs_need_no_schema_class_of_the_site(settings, client):
    assert "DEFAULT_SCHEMA_CLASS" not in settings.REST_FRAMEWORK  # DRF's own AutoSchema, then
    GENERATOR_STATS.reset()
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200 and not GENERATOR_STATS
    assert {"/api/books/", "/api/books/{id}/similar/", "/api/search/", "/api/models/{model}/search/"} <= set(schema.json()["paths"])
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"/api/schema/" in docs.content


@pytest.mark.urls("tests.host_urls")
def test_mounted_elsewhere_the_schema_describes_bookrecs_endpoints_at_their_paths(client):
    paths = set(client.get("/library/recommendations/schema/", {"format": "json"}).json()["paths"])
    assert "/library/recommendations/books/{id}/similar/" in paths
    assert "/library/recommendations/models/{model}/recommendations/" in paths
    assert all(path.startswith("/library/recommendations/") for path in paths)  # not the site's /host/
    assert b"/library/recommendations/schema/" in client.get("/library/recommendations/docs/").content


def test_a_sites_own_drf_spectacular_schema_documents_bookrec_without_warnings(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    GENERATOR_STATS.reset()
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert not GENERATOR_STATS
    assert "/api/models/{model}/{id}/similar/" in paths and "/api/schema/" not in paths
