import json
import threading
import urllib.request

import numpy as np
import pytest

from bookrec.embedders import Embedder, EmbeddingError, EmbeddingUnavailable
from bookrec.embedders.local import LocalE5Embedder
from tests.doubles import answering, forward_to
from tests.processes import free_port

DOCUMENTS = [
    "Deep learning: neural networks, backpropagation and training deep models.",
    "Neural networks from scratch: layers, gradients and training loops.",
    "Classic French cooking: sauces, soups, roasts and pastry.",
]


def cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def raw_server_vectors(base_url, texts):
    """What the server itself answers, without the embedder in between."""
    request = urllib.request.Request(
        f"{base_url}/embeddings", headers={"Content-Type": "application/json"},
        data=json.dumps({"model": "e5-passage", "input": texts, "encoding_format": "float"}).encode(),
    )
    with urllib.request.urlopen(request) as response:
        return [item["embedding"] for item in json.load(response)["data"]]


# -- the local model ---------------------------------------------------------------


def test_local_model_embeds_documents_as_unit_vectors_that_place_topics_together(bookrec):
    embedder = bookrec()
    assert isinstance(embedder, LocalE5Embedder)
    vectors = embedder.embed_documents(DOCUMENTS)
    assert [v.shape for v in vectors] == [(384,)] * 3
    assert all(np.isclose(np.linalg.norm(v), 1.0, atol=1e-5) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_local_model_returns_none_for_blank_texts_and_embeds_the_rest(bookrec):
    vectors = bookrec().embed_documents(["", DOCUMENTS[0], "   \n"])
    assert vectors[0] is None and vectors[2] is None
    assert vectors[1].shape == (384,)


def test_local_model_embeds_queries_differently_from_documents(bookrec):
    embedder = bookrec()
    query = embedder.embed_query("a book about neural networks")
    document = embedder.embed_documents(["a book about neural networks"])[0]
    assert not np.allclose(query, document)
    assert cosine(query, embedder.embed_documents([DOCUMENTS[0]])[0]) > cosine(
        query, embedder.embed_documents([DOCUMENTS[2]])[0]
    )


def test_local_model_gives_the_same_vectors_when_called_from_many_threads(bookrec):
    embedder = bookrec()
    expected = [embedder.embed_documents([text])[0] for text in DOCUMENTS]
    results = {}

    def embed(i):
        results[i] = embedder.embed_documents([DOCUMENTS[i % 3]])[0]

    threads = [threading.Thread(target=embed, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, vector in results.items():
        np.testing.assert_allclose(vector, expected[i % 3], atol=1e-6)


def test_local_model_truncates_to_configured_dimensions_and_renormalises(bookrec):
    full = bookrec().embed_documents([DOCUMENTS[0]])[0]
    embedder = bookrec(EMBEDDING_DIMENSIONS=128)
    short = embedder.embed_documents([DOCUMENTS[0]])[0]
    assert embedder.model_name == f"{LocalE5Embedder.model}@128"
    np.testing.assert_allclose(short, full[:128] / np.linalg.norm(full[:128]), atol=1e-5)


def test_an_empty_query_is_refused(bookrec):
    with pytest.raises(ValueError):
        bookrec().embed_query("  ")


# -- the OpenAI-compatible backend against the real server --------------------------


@pytest.fixture
def proxy(server_double, embedding_server):
    """A recording proxy in front of the real server: what the client sends, real answers."""
    return server_double(forward_to(embedding_server))


@pytest.fixture
def openai_embedder(bookrec, proxy):
    def build(**overrides):
        return bookrec(**{
            "EMBEDDING_BASE_URL": proxy.base_url, "EMBEDDING_MODEL": "multilingual-e5-small",
            "EMBEDDING_DIMENSIONS": 384, "EMBEDDING_MAX_RETRIES": 0, **overrides,
        })

    return build


def test_documents_come_back_as_the_servers_vectors_in_order(openai_embedder, embedding_server):
    vectors = openai_embedder().embed_documents(DOCUMENTS)
    expected = raw_server_vectors(embedding_server, DOCUMENTS)
    for vector, raw in zip(vectors, expected):
        np.testing.assert_allclose(vector, np.asarray(raw) / np.linalg.norm(raw), atol=1e-6)


def test_inputs_are_sent_as_lists_in_batches_of_the_configured_size(openai_embedder, proxy):
    texts = [f"Book number {i} about gardening." for i in range(5)]
    vectors = openai_embedder(EMBEDDING_REQUEST_BATCH_SIZE=2).embed_documents(texts)
    assert proxy.sent_inputs() == [texts[0:2], texts[2:4], texts[4:5]]
    assert all(body["encoding_format"] == "float" for body in proxy.requests)
    assert all(body["model"] == "multilingual-e5-small" for body in proxy.requests)
    assert len(vectors) == 5 and all(v is not None for v in vectors)


def test_blank_texts_are_never_sent_and_come_back_as_none(openai_embedder, proxy):
    vectors = openai_embedder().embed_documents(["", DOCUMENTS[0], " \t\n", DOCUMENTS[1]])
    assert proxy.sent_inputs() == [[DOCUMENTS[0], DOCUMENTS[1]]]
    assert vectors[0] is None and vectors[2] is None
    assert vectors[1] is not None and vectors[3] is not None


def test_only_blank_texts_send_nothing(openai_embedder, proxy):
    assert openai_embedder().embed_documents(["", "  "]) == [None, None]
    assert proxy.requests == []


def test_over_long_texts_are_cut_on_the_client(openai_embedder, proxy):
    long_text = "word " * 100
    openai_embedder(EMBEDDING_MAX_CHARS=50).embed_documents([long_text, "short"])
    assert proxy.sent_inputs() == [[long_text[:50], "short"]]


def test_smaller_dimensions_truncate_the_servers_vector_and_renormalise(openai_embedder, embedding_server):
    embedder = openai_embedder(EMBEDDING_DIMENSIONS=64)
    vector = embedder.embed_documents([DOCUMENTS[0]])[0]
    raw = np.asarray(raw_server_vectors(embedding_server, [DOCUMENTS[0]])[0])[:64]
    assert vector.shape == (64,)
    np.testing.assert_allclose(vector, raw / np.linalg.norm(raw), atol=1e-6)
    assert embedder.model_name == "multilingual-e5-small@64"


def test_queries_carry_the_qwen3_instruction_and_documents_none(openai_embedder, proxy):
    embedder = openai_embedder(QUERY_INSTRUCTION="Find books about it")
    embedder.embed_query("  gardening in small spaces ")
    embedder.embed_documents(["gardening in small spaces"])
    assert proxy.sent_inputs() == [
        ["Instruct: Find books about it\nQuery:gardening in small spaces"],
        ["gardening in small spaces"],
    ]


def test_a_closed_port_is_unavailable_not_a_crash(bookrec):
    embedder = bookrec(EMBEDDING_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(EmbeddingUnavailable, match="unreachable"):
        embedder.embed_documents(DOCUMENTS)


@pytest.mark.parametrize("status, transient", [(400, False), (401, False), (408, True), (413, False), (429, True), (500, True), (503, True)])
def test_http_errors_are_transient_or_permanent_by_status(bookrec, server_double, status, transient):
    double = server_double(answering(status, "no thanks"))
    embedder = bookrec(EMBEDDING_BASE_URL=double.base_url, EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(EmbeddingError, match=f"HTTP {status}") as raised:
        embedder.embed_documents(DOCUMENTS)
    assert isinstance(raised.value, EmbeddingUnavailable) is transient


def test_retry_after_is_passed_on_with_a_transient_error(bookrec, server_double):
    double = server_double(answering(429, "slow down", {"Retry-After": "42"}))
    embedder = bookrec(EMBEDDING_BASE_URL=double.base_url, EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(EmbeddingUnavailable) as raised:
        embedder.embed_documents(DOCUMENTS)
    assert raised.value.retry_after == 42.0


def test_the_client_retries_transient_errors_itself_first(bookrec, server_double):
    double = server_double(answering(503, "warming up", {"Retry-After-Ms": "10"}))
    embedder = bookrec(EMBEDDING_BASE_URL=double.base_url, EMBEDDING_MAX_RETRIES=2)
    with pytest.raises(EmbeddingUnavailable):
        embedder.embed_documents(DOCUMENTS)
    assert len(double.requests) == 3


def test_a_server_answer_with_missing_indexes_is_an_error(bookrec, server_double):
    one_vector = {"object": "list", "data": [{"object": "embedding", "index": 1, "embedding": [1.0] * 384}],
                  "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    double = server_double(lambda body: (200, one_vector, {}))
    embedder = bookrec(EMBEDDING_BASE_URL=double.base_url, EMBEDDING_DIMENSIONS=384, EMBEDDING_MAX_RETRIES=0)
    with pytest.raises(EmbeddingError):
        embedder.embed_documents(DOCUMENTS[:2])


# -- the checks every response passes ------------------------------------------------


class FixedWidth(Embedder):
    native_dimensions = 4
    model = "fixed"


@pytest.fixture
def checker(bookrec):
    def build(**overrides):
        bookrec(**overrides)
        from bookrec.conf import bookrec_settings

        return FixedWidth(bookrec_settings)

    return build


def test_checked_vectors_are_normalised(checker):
    (vector,) = checker().checked([[3.0, 0.0, 4.0, 0.0]], 1)
    np.testing.assert_allclose(vector, [0.6, 0.0, 0.8, 0.0])


@pytest.mark.parametrize("raw, expected, message", [
    ([[1, 0, 0, 0]], 2, "Expected 2 vectors, got 1"),
    ([[1, 0, 0, 0], [0, 1, 0, 0]], 1, "Expected 1 vectors, got 2"),
    (None, 1, "got none"),
    ([[1, 0, 0]], 1, "4 dimensions, got 3"),
    ([[1, 0, 0, 0, 0]], 1, "4 dimensions, got 5"),
    ([[1, float("nan"), 0, 0]], 1, "NaN"),
    ([[1, float("inf"), 0, 0]], 1, "NaN or infinite"),
    ([[0, 0, 0, 0]], 1, "zero-length"),
    ([[[1, 0], [0, 1]]], 1, "flat vector"),
])
def test_wrong_answers_are_refused(checker, raw, expected, message):
    with pytest.raises(EmbeddingError, match=message):
        checker().checked(raw, expected)


def test_longer_vectors_are_truncated_only_when_a_width_was_asked_for(checker):
    (vector,) = checker(EMBEDDING_DIMENSIONS=2).checked([[3.0, 4.0, 100.0, 100.0]], 1)
    np.testing.assert_allclose(vector, [0.6, 0.8])
    with pytest.raises(EmbeddingError, match="4 dimensions, got 6"):
        checker(EMBEDDING_DIMENSIONS=None).checked([[1, 2, 3, 4, 5, 6]], 1)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_a_vector_that_overflows_float32_is_refused(checker):
    with pytest.raises(EmbeddingError):
        checker().checked([[1e39, 0, 0, 0]], 1)
