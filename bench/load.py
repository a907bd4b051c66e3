"""A closed-loop load generator on loopback: ``connections`` client processes, each sending
its next request when the previous answer is in, cycling through the query ids, until
``max_requests`` answers or ``seconds`` have passed (whichever comes first).

Separate processes (not threads) so the client's own Python work runs beside the server's,
as wrk's would; the client costs about 0.1 ms of CPU per request, which the figures include.
"""

import http.client
import json
import time
from concurrent.futures import ProcessPoolExecutor
from urllib.parse import urlsplit

import numpy as np


def client(base_url, requests, max_requests, deadline):
    """One connection's loop: (latencies in s, non-200 count, fewest result rows, start, end)."""
    parts = urlsplit(base_url)
    began = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    latencies, bad, fewest = [], 0, None
    for i in range(max_requests):
        if time.monotonic() > deadline:
            break
        path, body = requests[i % len(requests)]
        started = time.perf_counter()
        if body is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            bad += 1
            continue
        results = json.loads(body).get("results")
        if results is not None:
            fewest = len(results) if fewest is None else min(fewest, len(results))
    conn.close()
    return latencies, bad, fewest, began, time.monotonic()


def run(base_url, path_format, ids, *, connections, max_requests, seconds, body_format=None):
    """Figures for GET ``base_url + path_format % id`` over ``ids`` (a POST of the JSON
    ``body_format % id`` when given)."""
    per_client = -(-max_requests // connections)
    paths = [(path_format % int(i) if "%" in path_format else path_format,
              None if body_format is None else body_format % int(i)) for i in ids]
    deadline = time.monotonic() + seconds
    with ProcessPoolExecutor(connections) as pool:
        futures = [
            pool.submit(client, base_url, paths[k * 7919 % len(paths):] + paths[: k * 7919 % len(paths)],
                        per_client, deadline)
            for k in range(connections)
        ]
        outcomes = [future.result() for future in futures]
    elapsed = max(o[4] for o in outcomes) - min(o[3] for o in outcomes)  # CLOCK_MONOTONIC: one clock
    latencies = np.concatenate([np.asarray(o[0]) for o in outcomes]) * 1000
    if not len(latencies):
        raise RuntimeError(f"No request completed against {base_url}{path_format}.")
    rows = [o[2] for o in outcomes if o[2] is not None]
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(float(np.percentile(latencies, 95)), 2),
        "rps": round(len(latencies) / elapsed, 1),
        "requests": int(len(latencies)),
        "non_200": sum(o[1] for o in outcomes),
        "rows_returned_min": min(rows) if rows else None,
    }
