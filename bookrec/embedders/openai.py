"""Any OpenAI-compatible ``/v1/embeddings`` server: SGLang, vLLM, TEI, Infinity, OpenAI.

In production this is SGLang serving Qwen3-Embedding-0.6B. Facts that shape the code:
``encoding_format="float"`` always (SGLang ignores base64); blank inputs are never sent
(SGLang rejects them); long inputs are cut here (SGLang's auto-truncation is unreliable);
queries carry the Qwen3 instruction ``Instruct: {task}\\nQuery:{text}``, documents none.
"""

import openai

from bookrec.embedders.base import Embedder, EmbeddingConfigurationError, EmbeddingError, EmbeddingUnavailable


# Worth retrying later, as the openai client itself judges them (it retries these first).
# Anything else a server refuses is refused for good: the batch is split to find the text.
TRANSIENT_STATUSES = {408, 429}
# The key, the model or the address is wrong: every request fails alike until the site is fixed.
CONFIGURATION_STATUSES = {401, 403, 404}


class OpenAICompatibleEmbedder(Embedder):
    native_dimensions = 1024

    def __init__(self, options):
        if not options.EMBEDDING_BASE_URL:
            raise EmbeddingError('BOOKREC["EMBEDDING_BASE_URL"] is not set.')
        super().__init__(options)
        self.model = options.EMBEDDING_MODEL
        self.api_key = options.EMBEDDING_API_KEY
        self.query_instruction = options.QUERY_INSTRUCTION
        self.client = openai.OpenAI(
            base_url=options.EMBEDDING_BASE_URL,
            # Local servers take any key; the client insists on one.
            api_key=options.EMBEDDING_API_KEY or "unused",
            timeout=options.EMBEDDING_TIMEOUT,
            # The client retries connection errors, 408/409/429 and 5xx with
            # exponential backoff and honours Retry-After.
            max_retries=options.EMBEDDING_MAX_RETRIES,
        )

    def describe(self, message, limit=300):
        """A server's error message, fit to be stored on a book, logged and shown: short,
        and without the API key (some servers echo the key they refuse)."""
        message = str(message)
        if self.api_key:
            message = message.replace(self.api_key, "[API key]")
        return message if len(message) <= limit else message[:limit] + "…"

    def format_query(self, text):
        return f"Instruct: {self.query_instruction}\nQuery:{text}"

    def _embed(self, texts, *, is_query):
        inputs = [self.format_query(text) for text in texts] if is_query else list(texts)
        try:
            response = self.client.embeddings.create(
                model=self.model, input=inputs, encoding_format="float"
            )
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise EmbeddingUnavailable(f"Embedding server unreachable: {exc.__class__.__name__}.") from exc
        except openai.APIStatusError as exc:
            message = f"Embedding server answered HTTP {exc.status_code}: {self.describe(exc.message)}"
            if exc.status_code in TRANSIENT_STATUSES or exc.status_code >= 500:
                retry_after = exc.response.headers.get("retry-after")
                raise EmbeddingUnavailable(message, retry_after=_seconds(retry_after)) from exc
            if exc.status_code in CONFIGURATION_STATUSES:
                raise EmbeddingConfigurationError(message) from exc
            raise EmbeddingError(message) from exc
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"Embedding server gave an unusable answer: {self.describe(exc)}") from exc
        data = sorted(response.data or [], key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(data))):
            raise EmbeddingError("Embedding server returned out-of-range or repeated indexes.")
        return [item.embedding for item in data]


def _seconds(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None
