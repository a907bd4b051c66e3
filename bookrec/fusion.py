"""Combining and re-ordering rankings: reciprocal rank fusion, maximal marginal relevance,
and a cap on books per author. Plain functions over short lists already chosen in SQL."""

import numpy as np


def reciprocal_rank_fusion(*rankings, k=60):
    """Fuse rankings (sequences of keys, best first) into ``[(key, score)]``, best first.

    A key scores ``sum(1 / (k + rank))`` over the rankings it appears in (rank from 1), as in
    Cormack, Clarke & Büttcher (2009): only ranks count, so scores of different scales mix.
    Ties keep the order of first appearance.
    """
    scores = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def maximal_marginal_relevance(relevance, vectors, *, diversity, limit):
    """Indexes of ``limit`` items in the order MMR picks them (Carbonell & Goldstein, 1998).

    ``relevance``: one score per item (any scale; rescaled to 0..1 here). ``vectors``: one
    unit vector per item, or None when the item has none (it then resembles nothing).
    ``diversity`` 0 keeps the relevance order; 1 picks by dissimilarity alone.
    """
    count = len(relevance)
    if count == 0:
        return []
    relevance = np.asarray(relevance, dtype=np.float64)
    spread = relevance.max() - relevance.min()
    relevance = (relevance - relevance.min()) / spread if spread > 0 else np.ones(count)
    width = next((len(v) for v in vectors if v is not None), 1)
    matrix = np.stack([np.asarray(v, dtype=np.float64) if v is not None else np.zeros(width) for v in vectors])
    similarity = matrix @ matrix.T
    chosen = []
    closest = np.full(count, -np.inf)  # each item's highest similarity to a chosen one
    available = np.ones(count, dtype=bool)
    while len(chosen) < min(limit, count):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        value = (1.0 - diversity) * relevance - diversity * redundancy
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        closest = np.maximum(closest, similarity[best])
    return chosen


def cap_per_author(items, author_of, cap):
    """``items`` in order, skipping any beyond ``cap`` by the same author (blank authors
    are not one author)."""
    if not cap:
        return list(items)
    seen = {}
    kept = []
    for item in items:
        author = (author_of(item) or "").strip().casefold()
        if author:
            if seen.get(author, 0) >= cap:
                continue
            seen[author] = seen.get(author, 0) + 1
        kept.append(item)
    return kept
