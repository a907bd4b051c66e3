"""A test double of SGLang's ``POST /v1/rerank`` protocol (no reranker model runs on a CPU
here): a real HTTP server on loopback that answers in SGLang's format.

Request ``{"query", "documents", "instruct"?, "top_n"?, "return_documents"?, "model"?}``;
response a JSON list of ``{"score", "index", "document"?, "meta_info"}`` sorted by score,
highest first. Its "model" scores a document by how many of the query's words it contains,
so the tests know the order to expect. ``behaviour`` makes it misbehave on purpose.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def word_overlap(query, document):
    words = set(query.lower().split())
    return float(sum(1 for word in set(document.lower().split()) if word in words))


class RerankHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.requests.append({"path": self.path, "body": request})
        if self.path != "/v1/rerank":
            return self.reply(404, {"object": "error", "message": "Not Found", "code": 404})
        if server.behaviour == "error":
            return self.reply(500, {"object": "error", "message": "reranker crashed", "code": 500})
        if server.behaviour == "garbage":
            return self.reply(200, {"unexpected": "shape"})
        if not request.get("query") or not request.get("documents"):
            return self.reply(400, {"object": "error", "message": "Query cannot be empty", "code": 400})
        results = [
            {"score": word_overlap(request["query"], document), "index": index, "meta_info": {"id": "rerank-test"}}
            | ({"document": document} if request.get("return_documents", True) else {})
            for index, document in enumerate(request["documents"])
        ]
        results.sort(key=lambda item: -item["score"])
        if request.get("top_n"):
            results = results[: request["top_n"]]
        return self.reply(200, results)


class RerankServer:
    """Start with ``with RerankServer() as server:``; ``server.url`` is the /v1 base URL."""

    def __init__(self, behaviour="ok"):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RerankHandler)
        self.httpd.behaviour = behaviour
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests(self):
        return self.httpd.requests

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
