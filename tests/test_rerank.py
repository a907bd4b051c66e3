"""Reranking through SGLang's /v1/rerank protocol, against a real HTTP server in the tests
that speaks it (tests/rerank_server.py: a test double of the protocol; no reranker model
runs on a CPU here)."""

import logging

import pytest

from bookrec.registry import registration_for
from bookrec.models import Book
from tests.sample_books import client, catalogue  # noqa: F401 (fixtures)
from tests.processes import free_port
from tests.rerank_server import RerankServer, word_overlap

pytestmark = pytest.mark.django_db

QUERY = "detective investigates the murder and the stolen diamond"


@pytest.fixture
def reranker(settings):
    def start(behaviour="ok", **options):
        server = RerankServer(behaviour).__enter__()
        servers.append(server)
        settings.BOOKREC = {
            **settings.BOOKREC, "RERANK_BASE_URL": server.url, "RERANK_MAX_RETRIES": 0, **options,
        }
        return server

    servers = []
    yield start
    for server in servers:
        server.__exit__(None, None, None)


def search(client, **params):
    response = client.get("/api/search/", {"q": QUERY, "mode": "keyword", **params})
    assert response.status_code == 200, response.content
    return response.json()


def overlap_of(row):
    return word_overlap(QUERY, registration_for(Book).render(Book.objects.get(pk=row["book"]["id"])))


def test_results_are_reordered_by_the_reranker(client, catalogue, reranker, settings):
    first_stage = search(client, rerank="false", limit=10)
    assert first_stage["reranked"] is False
    server = reranker()
    payload = search(client, limit=10)
    assert payload["reranked"] is True
    assert sorted(row["book"]["id"] for row in payload["results"]) == sorted(row["book"]["id"] for row in first_stage["results"])
    assert [row["score"] for row in payload["results"]] == [overlap_of(row) for row in payload["results"]]
    assert [row["score"] for row in payload["results"]] == sorted((row["score"] for row in payload["results"]), reverse=True)
    (request,) = server.requests
    body = request["body"]
    assert request["path"] == "/v1/rerank"
    assert body["query"] == QUERY
    assert body["instruct"] == settings.BOOKREC.get("QUERY_INSTRUCTION", "Given a description of what a reader wants, retrieve books about it")
    assert body["model"] == "Qwen/Qwen3-Reranker-0.6B" and body["return_documents"] is False
    assert sorted(body["documents"]) == sorted(registration_for(Book).render(Book.objects.get(pk=row["book"]["id"])) for row in first_stage["results"])


def test_only_the_top_candidates_are_sent(client, catalogue, reranker):
    server = reranker(RERANK_CANDIDATES=2)
    payload = search(client, limit=3)
    assert len(server.requests[0]["body"]["documents"]) == 2
    assert payload["reranked"] is True and len(payload["results"]) == 3


def test_similar_books_are_reranked_with_their_own_instruction(client, catalogue, reranker, settings):
    server = reranker()
    book = catalogue["The Moonstone"]
    response = client.get(f"/api/books/{book.pk}/similar/", {"mode": "hybrid", "limit": 3})
    assert response.status_code == 200 and response.json()["reranked"] is True
    body = server.requests[0]["body"]
    assert body["query"] == registration_for(Book).render(book)
    assert body["instruct"] == "Given a book's description, retrieve books on the same subjects"


@pytest.mark.parametrize("behaviour", ["error", "garbage", "down"])
def test_a_failing_reranker_keeps_the_first_stage_order_and_is_logged(client, catalogue, reranker, settings, caplog, behaviour):
    first_stage = search(client, rerank="false")
    if behaviour == "down":
        reranker()
        settings.BOOKREC = {**settings.BOOKREC, "RERANK_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    else:
        reranker(behaviour)
    with caplog.at_level(logging.WARNING, logger="bookrec.ranking"):
        payload = search(client)
    assert payload["reranked"] is False
    assert payload["results"] == first_stage["results"]
    assert "Reranking failed, keeping the first-stage order" in caplog.text


def test_rerank_false_skips_the_reranker(client, catalogue, reranker):
    server = reranker()
    assert search(client, rerank="false")["reranked"] is False
    assert server.requests == []
