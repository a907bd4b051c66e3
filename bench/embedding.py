"""Embedding a whole catalogue for a bench, through the app's own pipeline, with a vector cache."""

from tqdm import tqdm

from bench.vector_cache import VectorCache
from bookrec import pipeline
from bookrec.conf import bookrec_settings
from bookrec.embedders import get_embedder
from bookrec.models import Book, EmbeddingStatus


def embed_pending(cache_dir=None, progress=True):
    """Embed every pending book: cached vectors are written back as they are, the rest go
    through ``pipeline.embed_books`` and are added to the cache. Returns (cached, computed)."""
    embedder = get_embedder()
    cache = VectorCache(embedder.model_name, *([cache_dir] if cache_dir else []))
    pending = list(Book.objects.filter(embedding_status=EmbeddingStatus.PENDING).values_list("id", "content_hash"))
    cached = [(pk, digest, digest, cache.get(digest)) for pk, digest in pending if cache.get(digest) is not None]
    for rows in pipeline.chunked(cached, 500):
        pipeline.write_vectors(rows, embedder.model_name)
    missing = [pk for pk, digest in pending if cache.get(digest) is None]
    batch = bookrec_settings.TASK_BATCH_SIZE
    with tqdm(total=len(missing), unit="book", desc=f"Embedding ({embedder.model_name})", disable=not progress) as bar:
        for number, chunk in enumerate(pipeline.chunked(missing, batch)):
            pipeline.embed_books(chunk, embedder=embedder)
            for digest, vector in Book.objects.filter(pk__in=chunk, embedding_status=EmbeddingStatus.EMBEDDED).values_list(
                "embedded_hash", "embedding"
            ):
                cache.put(digest, vector)
            if number % 8 == 7:
                cache.save()  # an interrupted run keeps what it paid for
            bar.update(len(chunk))
    cache.save()
    return len(cached), len(missing)
