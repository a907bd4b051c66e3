"""Vectors computed by an earlier run of a bench, kept in a file keyed by model and text hash.

Re-running a bench on the same catalogue then embeds nothing again; a changed text or model
simply misses the cache. One ``.npz`` file per model name under ``var/bench-cache``.
"""

import re
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "var" / "bench-cache"


class VectorCache:
    def __init__(self, model_name, directory=DEFAULT_DIR):
        self.path = Path(directory) / (re.sub(r"[^A-Za-z0-9._-]+", "_", model_name) + ".npz")
        self.vectors = {}
        if self.path.exists():
            with np.load(self.path) as stored:
                self.vectors = dict(zip(stored["hashes"].tolist(), stored["vectors"]))

    def get(self, text_hash):
        return self.vectors.get(text_hash)

    def put(self, text_hash, vector):
        self.vectors[text_hash] = np.asarray(getattr(vector, "to_numpy", lambda: vector)(), dtype=np.float32)

    def save(self):
        if not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        hashes = list(self.vectors)
        partial = self.path.with_suffix(".partial.npz")
        np.savez(partial, hashes=np.array(hashes), vectors=np.stack([self.vectors[h] for h in hashes]))
        partial.replace(self.path)  # never a half-written cache
