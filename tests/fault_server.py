"""A controllable OpenAI-compatible embeddings server for the fault tests.

This is a test double of the protocol, not an embedding model: the HTTP side is
``tests.doubles.EmbeddingServerDouble`` (a real socket in a thread of the test process, so
that the real ``openai`` client inside a real Celery worker process talks to it). When
healthy it answers with deterministic unit vectors derived from each text and the model
asked for (the same text always gets the same vector, so a stored vector proves which text
it was computed from). Tests tell it to misbehave:

    server.misbehave(SLOW, times=2)   # the next two requests are slow, then healthy again
    server.stop() / server.start()    # down (connection refused) and back on the same port
    server.misbehave(HOLD)            # requests wait until server.release()

Every request is recorded in ``requests`` (time, texts, what it was answered with).
"""

import hashlib
import threading
import time
from dataclasses import dataclass

import numpy as np

from tests.doubles import EmbeddingServerDouble, error

FAULT_MODEL = "fault-double"  # the model name the tests configure

HEALTHY = "healthy"
SLOW = "slow"  # answers after ``slow_seconds``, beyond the client's timeout
WRONG_COUNT = "wrong_count"  # one vector more than texts sent
WRONG_DIMENSION = "wrong_dimension"  # vectors of half the width
NAN = "nan"  # NaN in every vector
ERROR_500 = "error_500"
RATE_LIMITED = "rate_limited"  # HTTP 429 with Retry-After: ``retry_after`` seconds
UNAUTHORIZED = "unauthorized"  # HTTP 401 echoing the API key, as some servers do
HOLD = "hold"  # the request waits until ``release()``, then is answered healthily


def deterministic_vector(text, dimensions, model):
    """The unit vector the healthy server returns for ``text`` when asked for ``model``
    (another model, another space: vectors of two models are unrelated)."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return vector / np.linalg.norm(vector)


@dataclass
class Request:
    at: float  # time.monotonic() when it arrived
    texts: list
    answer: str  # the mode it was answered with


class FaultServer:
    def __init__(self, dimensions=384, slow_seconds=5.0, retry_after=2):
        self.dimensions = dimensions
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.requests = []
        self._mode, self._times = HEALTHY, None
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._http = None
        self.port = 0

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def environment(self):
        """The environment of a site process (worker, web) that embeds through this server.

        The openai client's own retries are off and bookrec's backoff is short, so that
        the retries under test are bookrec's, and quick.
        """
        return {
            "EMBEDDING_BASE_URL": self.base_url,
            "EMBEDDING_MODEL": FAULT_MODEL,
            "EMBEDDING_DIMENSIONS": str(self.dimensions),
            "BOOKREC_EMBEDDING_MAX_RETRIES": "0",
            "BOOKREC_EMBEDDING_TIMEOUT": "1",
            "BOOKREC_TASK_RETRY_BACKOFF_MAX": "1",
        }

    # -- control -------------------------------------------------------------------

    def start(self):
        """Listen (again, on the same port after ``stop()``)."""
        self._http = EmbeddingServerDouble(self.respond, port=self.port)
        self.port = self._http.httpd.server_address[1]
        return self

    def stop(self):
        """Go down: new connections are refused until ``start()``."""
        if self._http is not None:
            self._http.stop()
            self._http = None

    def authorizations(self):
        """The Authorization header of every request since the last ``start()``."""
        return [headers.get("Authorization", "") for headers in self._http.headers]

    def misbehave(self, mode, times=None):
        """Answer the next ``times`` requests (every one when None) with ``mode``."""
        with self._lock:
            self._mode, self._times = mode, times
            if mode == HOLD:
                self._released.clear()

    def heal(self):
        self.misbehave(HEALTHY)
        self.release()

    def release(self):
        """Let held requests (and any later ones) be answered."""
        self._released.set()

    def wait_for_requests(self, count, timeout=60, answer=None):
        """Wait until ``count`` requests (answered with ``answer``, if given) arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests_answered(answer)) >= count:
                return
            time.sleep(0.05)
        raise TimeoutError(f"Timed out waiting for {count} requests ({answer or 'any'}); got {len(self.requests)}.")

    def requests_answered(self, answer=None):
        return [r for r in list(self.requests) if answer is None or r.answer == answer]

    def texts_embedded(self):
        """Every text answered with a valid vector, in order (repeats included)."""
        return [text for r in self.requests_answered() if r.answer in (HEALTHY, SLOW, HOLD) for text in r.texts]

    def _next_mode(self):
        with self._lock:
            mode = self._mode
            if self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self._mode, self._times = HEALTHY, None
            return mode

    # -- the protocol --------------------------------------------------------------

    def respond(self, body):
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        mode = self._next_mode()
        self.requests.append(Request(time.monotonic(), texts, mode))

        if mode == ERROR_500:
            return error(500, "The model crashed.")
        if mode == RATE_LIMITED:
            return error(429, "Too many requests.", {"Retry-After": str(self.retry_after)})
        if mode == UNAUTHORIZED:  # (the last request's key: one request at a time in this mode)
            key = self.authorizations()[-1].removeprefix("Bearer ")
            return error(401, f"Incorrect API key provided: {key}.")
        if mode == SLOW:
            time.sleep(self.slow_seconds)
        if mode == HOLD:
            self._released.wait(120)

        dimensions = self.dimensions // 2 if mode == WRONG_DIMENSION else self.dimensions
        vectors = [deterministic_vector(text, dimensions, body.get("model", "")).tolist() for text in texts]
        if mode == WRONG_COUNT:
            vectors.append(vectors[0])
        if mode == NAN:
            vectors = [[float("nan")] * dimensions for _ in texts]  # json writes NaN, as Python servers do
        return 200, {
            "object": "list",
            "model": body.get("model", ""),
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }, {}
