"""The API for any registered model (``models/<app_label.modelname>/...``): a host's own model
(here Django's ``auth.Group``) gets the Book endpoints' parameters, validation, filters and
answers, its objects shown by its registration's SERIALIZER or by their id and TEXT fields."""

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework import serializers
from rest_framework.test import APIClient

from bookrec.conf import bookrec_settings
from tests.books import at_angle, embedded_book, give_vector
from tests.sample_books import analyse

pytestmark = pytest.mark.django_db

GROUPS = "/api/models/auth.group"


class ShoutingGroupSerializer(serializers.ModelSerializer):
    """A host's own serializer, named by the registration's SERIALIZER."""

    shout = serializers.SerializerMethodField()

    class Meta:
        model = Group
        fields = ["id", "shout"]

    def get_shout(self, group):
        return group.name.upper()


def register_groups(settings, **options):
    """Django's groups registered beside bookrec's books."""
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {
        **bookrec_settings.MODELS, "auth.Group": {"TEXT": ["name"], "FILTERS": {"name": ["exact", "icontains"]}, **options},
    }}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # throttle counts
    yield
    cache.clear()


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def groups(settings):
    """A group and its neighbours 10°, 30° and 60° away, registered and embedded."""
    register_groups(settings)
    names = {"Query": 0, "Near reading circle": 10, "Middle": 30, "Far away": 60}
    made = {name: give_vector(Group.objects.create(name=name), at_angle(angle)) for name, angle in names.items()}
    analyse()
    return made


def names(response, noun="object"):
    assert response.status_code == 200, response.content
    return [row[noun]["name"] for row in response.json()["results"]]


# -- similar ---------------------------------------------------------------------------


def test_similar_objects_of_a_host_model_nearest_first_shown_by_id_and_text(anonymous, groups):
    response = anonymous.get(f"{GROUPS}/{groups['Query'].pk}/similar/", {"mode": "vector"})
    assert names(response) == ["Near reading circle", "Middle", "Far away"]
    first = response.json()["results"][0]
    assert first["object"] == {"id": groups["Near reading circle"].pk, "name": "Near reading circle"}
    assert first["similarity"] == pytest.approx(0.985, abs=2e-3)
    assert response.json()["mode"] == "vector" and response.json()["reranked"] is False


def test_the_registrations_filters_and_limit_apply(anonymous, groups):
    url = f"{GROUPS}/{groups['Query'].pk}/similar/"
    assert names(anonymous.get(url, {"mode": "vector", "limit": 2})) == ["Near reading circle", "Middle"]
    assert names(anonymous.get(url, {"mode": "vector", "name__icontains": "a"})) == ["Near reading circle", "Far away"]
    assert names(anonymous.get(url, {"mode": "vector", "name": "Middle"})) == ["Middle"]


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"mode": "fuzzy"}, "mode"),
    ({"diversity": "2"}, "diversity"),
    ({"rerank": "true"}, "rerank"),  # no reranker configured
    ({"language": "en"}, "language"),  # a Book filter, not one of the groups'
])
def test_a_bad_parameter_is_a_400_naming_it(anonymous, groups, params, field):
    response = anonymous.get(f"{GROUPS}/{groups['Query'].pk}/similar/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_an_object_not_embedded_is_the_same_409_as_a_books(anonymous, groups):
    fresh = Group.objects.create(name="Fresh")
    response = anonymous.get(f"{GROUPS}/{fresh.pk}/similar/")
    assert response.status_code == 409
    assert response.json()["embedding_status"] == "pending" and "no embedding" in response.json()["detail"]
    # Keyword mode needs no vector of its own.
    assert anonymous.get(f"{GROUPS}/{fresh.pk}/similar/", {"mode": "keyword"}).status_code == 200


@pytest.mark.parametrize("path", [
    "/api/models/auth.user/1/similar/",  # installed, not registered
    "/api/models/auth.nothing/1/similar/",
    "/api/models/nowhere.group/1/similar/",
    "/api/models/nodot/1/similar/",
    "/api/models/a.b.c/search/?q=x",
    "/api/models/auth.user/recommendations/",
])
def test_a_model_that_is_not_registered_is_a_404_saying_so(anonymous, groups, path):
    call = anonymous.post if path.endswith("recommendations/") else anonymous.get
    response = call(path, {"liked": [1]}, format="json") if call == anonymous.post else call(path)
    assert response.status_code == 404
    assert "is not a model registered with bookrec" in response.json()["detail"]


def test_an_unknown_object_is_a_404(anonymous, groups):
    assert anonymous.get(f"{GROUPS}/999999/similar/").status_code == 404


def test_the_registrations_serializer_shows_the_objects(settings, anonymous, groups):
    register_groups(settings, SERIALIZER="tests.test_api_models.ShoutingGroupSerializer")
    response = anonymous.get(f"{GROUPS}/{groups['Query'].pk}/similar/", {"mode": "vector", "limit": 1})
    assert response.json()["results"][0]["object"] == {"id": groups["Near reading circle"].pk, "shout": "NEAR READING CIRCLE"}


def test_the_book_endpoints_are_the_same_views_bound_to_book(anonymous):
    query = embedded_book(at_angle(0), title="Query", language="en")
    embedded_book(at_angle(10), title="Near", language="en")
    embedded_book(at_angle(30), title="Middle", language="fr")
    params = {"mode": "vector", "language": "en"}
    books = anonymous.get(f"/api/books/{query.pk}/similar/", params).json()
    models = anonymous.get(f"/api/models/bookrec.book/{query.pk}/similar/", params).json()
    assert [row["book"] for row in books["results"]] == [row["object"] for row in models["results"]]
    assert [row["book"]["title"] for row in books["results"]] == ["Near"]


# -- search and a reader's taste -----------------------------------------------------------


def test_search_over_a_host_model(anonymous, groups):
    response = anonymous.get(f"{GROUPS}/search/", {"q": "reading circle", "mode": "keyword"})
    assert names(response) == ["Near reading circle"]
    assert anonymous.get(f"{GROUPS}/search/", {"q": "", "mode": "keyword"}).json().keys() == {"q"}
    assert "year_min" in anonymous.get(f"{GROUPS}/search/", {"q": "x", "year_min": 1}).json()


def test_a_readers_taste_over_a_host_model(anonymous, groups):
    liked = [groups["Query"].pk]
    response = anonymous.post(f"{GROUPS}/recommendations/", {"liked": liked, "limit": 2}, format="json")
    assert names(response) == ["Near reading circle", "Middle"]
    filtered = anonymous.post(f"{GROUPS}/recommendations/", {"liked": liked, "filters": {"name__icontains": "far"}}, format="json")
    assert names(filtered) == ["Far away"]


@pytest.mark.parametrize("body, field", [
    ({"liked": []}, "liked"),
    ({"liked": [999999]}, "liked"),
    ({"liked": [1], "filters": {"language": "en"}}, "filters"),
    ({"liked": [1], "filters": {"name": ["a", "list"]}}, "filters"),
    ({"liked": [1], "likes": [2]}, "likes"),
])
def test_bad_taste_input_is_a_400_naming_the_field(anonymous, groups, body, field):
    if body["liked"] == [1]:
        body = {**body, "liked": [groups["Query"].pk]}
    response = anonymous.post(f"{GROUPS}/recommendations/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_examples_not_embedded_are_a_409_naming_them(anonymous, groups):
    fresh = Group.objects.create(name="Fresh")
    response = anonymous.post(f"{GROUPS}/recommendations/", {"liked": [groups["Query"].pk, fresh.pk]}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": f"Groups {fresh.pk} have no embedding from the current model yet.", "object_ids": [fresh.pk]}


# -- the schema ----------------------------------------------------------------------------


def test_the_schema_documents_the_endpoints_of_any_registered_model_without_warnings(anonymous, settings):
    register_groups(settings)
    GENERATOR_STATS.reset()
    paths = anonymous.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert not GENERATOR_STATS, "warnings while generating the schema"
    similar = paths["/api/models/{model}/{id}/similar/"]["get"]
    (model,) = [p for p in similar["parameters"] if p["name"] == "model"]
    assert model["in"] == "path" and set(model["schema"]["enum"]) == {"bookrec.book", "auth.group"}
    assert {"limit", "mode", "diversity", "rerank"} <= {p["name"] for p in similar["parameters"]}
    assert {"200", "409", "400", "404", "503"} <= set(similar["responses"])
    assert "503" in paths["/api/models/{model}/search/"]["get"]["responses"]
    assert "requestBody" in paths["/api/models/{model}/recommendations/"]["post"]
