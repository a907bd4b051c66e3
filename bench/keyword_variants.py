"""Keyword scorings and fusions for "similar books", compared offline on one catalogue.

    python bench/keyword_variants.py CATALOGUE.jsonl[.gz]

Sets up the catalogue as bench/quality.py does (the app's importer, its full-text documents,
the local model's vectors from var/bench-cache), reads every book's lexemes (with their
term frequencies and field weights) and vector out of PostgreSQL, and scores every pair of
books in numpy with each variant. P@10 with the book's own author's books removed, as
bench/quality.py reports it. This is for choosing what to build: the variant built is then
measured by bench/quality.py through the app's own SQL.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import imported_catalogue, log, precision_table, top_excluding  # noqa: E402

POOL = 50
_LEXEMES = """
    SELECT d.object_id, t.lexeme, coalesce(cardinality(t.positions), 1), t.positions, t.weights
      FROM bookrec_document AS d, unnest(d.search_document) AS t
"""


def read_documents(books):
    """Per book: {lexeme: (tf, fields)} and its lexemes in position order (for bigrams)."""
    from django.db import connection

    documents = {pk: {} for pk in books}
    positions = {pk: [] for pk in books}
    with connection.cursor() as cursor:
        cursor.execute(_LEXEMES)
        for pk, lexeme, tf, places, weights in cursor.fetchall():
            if pk not in documents:
                continue
            documents[pk][lexeme] = (tf, set(weights or ["D"]))
            for place, weight in zip(places or [], weights or []):
                positions[pk].append((place, weight, lexeme))
    for pk in positions:
        positions[pk].sort()
    return documents, positions


def read_vectors(books):
    from bookrec.models import Book
    from bookrec.recommendations import current_vectors
    from bookrec.registry import registration_for

    rows = dict(current_vectors(registration_for(Book)).values_list("object_id", "embedding"))
    matrix = np.stack([np.asarray(rows[pk], dtype=np.float64) for pk in books])
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def term_matrix(ids, documents, *, fields=None, bigrams=None):
    """Books x terms: term frequencies (fields: only lexemes in these weights)."""
    vocabulary, rows, cols, values = {}, [], [], []
    for row, pk in enumerate(ids):
        counts = {}
        for lexeme, (tf, weights) in documents[pk].items():
            if fields is None or weights & fields:
                counts[lexeme] = tf
        if bigrams is not None:
            sequence = [lexeme for _, weight, lexeme in bigrams[pk] if fields is None or weight in fields]
            for first, second in zip(sequence, sequence[1:]):
                counts[first + " " + second] = counts.get(first + " " + second, 0) + 1
        for term, tf in counts.items():
            rows.append(row)
            cols.append(vocabulary.setdefault(term, len(vocabulary)))
            values.append(tf)
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(ids), len(vocabulary)), dtype=np.float64)


def idf(tf, smooth=False):
    n = tf.shape[0]
    df = np.asarray((tf > 0).sum(axis=0)).ravel()
    return np.log((1 + n) / (1 + df)) + 1 if smooth else np.log(n / df)


def cap_rows(weights, keep):
    """Keep each row's ``keep`` largest entries (the app's KEYWORD_QUERY_TERMS)."""
    weights = weights.tolil()
    for row in range(weights.shape[0]):
        data, cols = weights.data[row], weights.rows[row]
        if len(data) > keep:
            order = np.argsort(data)[::-1][:keep]
            weights.data[row] = [data[i] for i in sorted(order)]
            weights.rows[row] = [cols[i] for i in sorted(order)]
    return weights.tocsr()


def binary_scores(tf, keep=64):
    """The app's keyword ranking before: query weights (1 + ln tf) idf^2 of the query's best
    ``keep`` terms, binary document weights, divided by sqrt(distinct terms)."""
    weights = tf.copy()
    weights.data = 1 + np.log(weights.data)
    weights = cap_rows(weights.multiply(idf(tf) ** 2).tocsr(), keep)
    binary = (tf > 0).astype(np.float64)
    lengths = np.sqrt(np.asarray(binary.sum(axis=1)).ravel())
    return (weights @ binary.T).toarray() / lengths[None, :]


def own_norm_scores(tf, smooth=True, keep=None, binary=False):
    """Query weights (1 + ln tf) idf^2 (the idf of each side), document weights 1 + ln tf (or
    binary) divided by their own L2 norm: what SQL can compute from the document alone. With
    ``smooth`` idf + 1, sublinear documents and 256 terms: the app's keyword ranking now."""
    weights = tf.copy()
    weights.data = 1 + np.log(weights.data)
    query = weights.multiply(idf(tf, smooth) ** 2).tocsr()
    if keep:
        query = cap_rows(query, keep)
    document = (tf > 0).astype(np.float64) if binary else weights
    norms = np.sqrt(np.asarray(document.multiply(document).sum(axis=1)).ravel())
    return (query @ document.T).toarray() / norms[None, :]


def cosine_scores(tf, smooth=False, keep=None):
    """TF-IDF cosine: sublinear tf and idf on both sides, each side L2-normalised."""
    weights = tf.copy()
    weights.data = 1 + np.log(weights.data)
    weights = weights.multiply(idf(tf, smooth)).tocsr()
    norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
    weights = sparse.diags(1 / norms) @ weights
    query = cap_rows(weights, keep) if keep else weights
    return (query @ weights.T).toarray()


def bm25_scores(tf, k1=1.2, b=0.75, keep=None):
    """BM25 of each book's terms (query weights: sublinear tf) against every book."""
    n = tf.shape[0]
    df = np.asarray((tf > 0).sum(axis=0)).ravel()
    term_idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    document = tf.tocoo()
    saturated = document.data * (k1 + 1) / (document.data + k1 * (1 - b + b * lengths[document.row] / lengths.mean()))
    document = sparse.csr_matrix((saturated * term_idf[document.col], (document.row, document.col)), shape=tf.shape)
    query = tf.copy()
    query.data = 1 + np.log(query.data)
    query = query.multiply(term_idf).tocsr()
    if keep:
        query = cap_rows(query, keep)
    return (query @ document.T).toarray()


def neighbours(scores, ids, same_author):
    """Each book's top 10 by ``scores`` with its author's books (and itself) removed."""
    return {pk: [ids[j] for j in top_excluding(scores[i], same_author[i])] for i, pk in enumerate(ids)}


def pools(scores, same_author, size=POOL):
    """Each book's ``size`` best candidates by ``scores`` (its author's books removed): what a
    first stage hands to fusion."""
    result = []
    for i in range(scores.shape[0]):
        row = scores[i].copy()
        row[list(same_author[i])] = -np.inf
        top = np.argpartition(-row, size)[:size]
        result.append(top[np.argsort(-row[top])])
    return result


def rrf(vector_pools, keyword_pools, k=60, keyword_weight=1.0):
    fused = np.zeros((len(vector_pools), len(vector_pools)))
    for i, (by_vector, by_keyword) in enumerate(zip(vector_pools, keyword_pools)):
        fused[i, by_vector] += 1 / (k + np.arange(1, len(by_vector) + 1))
        fused[i, by_keyword] += keyword_weight / (k + np.arange(1, len(by_keyword) + 1))
        fused[i, fused[i] == 0] = -np.inf
    return fused


def zscore_fusion(vector, keyword, vector_pools, keyword_pools, keyword_weight):
    """Over the union of both pools: z-scored cosine + weight * z-scored keyword score (each
    standardised over that union), both scores known for every candidate."""
    fused = np.full(vector.shape, -np.inf)
    for i, (by_vector, by_keyword) in enumerate(zip(vector_pools, keyword_pools)):
        union = np.union1d(by_vector, by_keyword)
        v, w = vector[i, union], keyword[i, union]
        fused[i, union] = (v - v.mean()) / (v.std() or 1) + keyword_weight * (w - w.mean()) / (w.std() or 1)
    return fused


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogue")
    args = parser.parse_args(argv)
    with imported_catalogue(args.catalogue, progress=True) as (books, labels, _):
        documents, positions = read_documents(books)
        ids = list(books)
        vectors = read_vectors(books)
    index = {pk: i for i, pk in enumerate(ids)}
    by_author = {}
    for pk in ids:
        by_author.setdefault(books[pk].author, set()).add(index[pk])
    same_author = [by_author[books[pk].author] | {index[pk]} for pk in ids]

    def report(name, scores):
        table = precision_table({"excl_author": neighbours(scores, ids, same_author)}, books, labels)
        print(f"| {name} | {table['subjects']['excl_author']:.3f} | {table['lcsh']['excl_author']:.3f} |", flush=True)
        return scores

    log("Scoring ...")
    print("| variant | subjects, excl. author | LCSH, excl. author |\n| --- | ---: | ---: |")
    vector = report("vector (cosine of the embeddings)", vectors @ vectors.T)
    tf = term_matrix(ids, documents)
    summary_tf = term_matrix(ids, documents, fields={"C"})
    with_bigrams = term_matrix(ids, documents, bigrams=positions)
    summary_bigrams = term_matrix(ids, documents, fields={"C"}, bigrams=positions)
    keyword = {
        "before": report("keyword before: binary documents, idf, 64 query terms", binary_scores(tf)),
        "now": report("**keyword now: sublinear documents, idf + 1, 256 query terms**", own_norm_scores(tf, True, 256)),
    }
    report("keyword now, 64 query terms", own_norm_scores(tf, True, 64))
    report("keyword now, binary documents", own_norm_scores(tf, True, 256, binary=True))
    report("keyword now, idf (not + 1)", own_norm_scores(tf, False, 256))
    report("keyword now + word bigrams", own_norm_scores(with_bigrams, True, 256))
    report("keyword now + word bigrams, summary only", own_norm_scores(summary_bigrams, True, 256))
    report("TF-IDF cosine (idf in the document norm), idf", cosine_scores(tf))
    report("TF-IDF cosine, idf + 1", cosine_scores(tf, smooth=True))
    report("TF-IDF cosine, idf + 1, summary only", cosine_scores(summary_tf, smooth=True))
    report("TF-IDF cosine, idf + 1, + word bigrams", cosine_scores(with_bigrams, smooth=True))
    report("TF-IDF cosine, idf + 1, + word bigrams, summary only", cosine_scores(summary_bigrams, smooth=True))
    report("BM25 k1=1.2 b=0.75", bm25_scores(tf))
    report("BM25 k1=1.2 b=0.75 + word bigrams", bm25_scores(with_bigrams))
    from sklearn.feature_extraction.text import TfidfVectorizer

    baseline = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english").fit_transform(
        [books[pk].summary for pk in ids]
    )
    keyword["scikit-learn"] = report("scikit-learn TF-IDF over the summaries (the baseline)", (baseline @ baseline.T).toarray())

    vector_pools = pools(vector, same_author)
    for name in ["before", "now", "scikit-learn"]:
        keyword_pools = pools(keyword[name], same_author)
        for k in [10, 30, 60, 100]:
            for weight in [0.7, 1.0, 1.5]:
                report(f"hybrid, keyword {name}: RRF k={k}, keyword weight {weight}",
                       rrf(vector_pools, keyword_pools, k, weight))
        for weight in [0.3, 0.5, 0.7, 1.0]:
            report(f"hybrid, keyword {name}: z-scores, keyword weight {weight}",
                   zscore_fusion(vector, keyword[name], vector_pools, keyword_pools, weight))

if __name__ == "__main__":
    main()
