"""The optional second stage: a cross-encoder reranker behind SGLang's ``/v1/rerank``.

Production serves Qwen3-Reranker with SGLang. The protocol (SGLang's ``V1RerankReqInput`` /
``RerankResponse``): POST ``{"query", "documents", "instruct"?, "top_n"?, "return_documents"?}``,
answer a JSON list of ``{"score", "index", "document"?, "meta_info"?}``, highest score first.
The official ``openai`` client does the HTTP (timeouts, retries with backoff, Retry-After),
as for embeddings: the endpoint is not OpenAI's, but the transport is the same.
"""

import logging
import math
from functools import lru_cache

import openai

from bookrec.conf import bookrec_settings

logger = logging.getLogger(__name__)


class RerankError(Exception):
    """The reranker could not be reached or gave an unusable answer."""


def reranking_enabled():
    return bool(bookrec_settings.RERANK_BASE_URL)


@lru_cache(maxsize=4)
def _client(base_url, api_key, timeout, max_retries):
    return openai.OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=max_retries)


def rerank_scores(query, documents, *, instruction=""):
    """One relevance score per document, in the documents' order. Raises RerankError."""
    client = _client(
        bookrec_settings.RERANK_BASE_URL, bookrec_settings.RERANK_API_KEY,
        bookrec_settings.RERANK_TIMEOUT, bookrec_settings.RERANK_MAX_RETRIES,
    )
    body = {
        "model": bookrec_settings.RERANK_MODEL,
        "query": query,
        "documents": list(documents),
        "return_documents": False,
    }
    if instruction:
        body["instruct"] = instruction
    try:
        answer = client.post("/rerank", cast_to=object, body=body)
    except openai.OpenAIError as exc:
        raise RerankError(f"Reranker request failed: {exc.__class__.__name__}: {str(exc)[:300]}") from exc
    return _scores_in_order(answer, len(body["documents"]))


def _scores_in_order(answer, count):
    """Check the answer names every document exactly once with a finite score."""
    if not isinstance(answer, list):
        raise RerankError(f"Reranker answered {type(answer).__name__}, expected a list.")
    scores = [None] * count
    for item in answer:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("score") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or scores[index] is not None:
            raise RerankError(f"Reranker answered an unknown or repeated index: {index!r}.")
        if not isinstance(score, (int, float)) or not math.isfinite(score):
            raise RerankError(f"Reranker answered a score that is not a finite number: {score!r}.")
        scores[index] = float(score)
    if any(score is None for score in scores):
        raise RerankError(f"Reranker scored {sum(s is not None for s in scores)} of {count} documents.")
    return scores
