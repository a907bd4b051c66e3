"""Embedding a whole catalogue for a bench, through the app's own pipeline, with a vector cache."""

from tqdm import tqdm

from bench.vector_cache import VectorCache
from bookrec import indexing, pipeline
from bookrec.conf import bookrec_settings
from bookrec.embedders import get_embedder
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for


def embed_pending(cache_dir=None, progress=True, model=Book):
    """Embed every object of ``model`` pending in the active space: cached vectors are written
    back as they are (``pipeline.write_vectors``), the rest go through ``pipeline.embed_objects``
    and are added to the cache. Returns (cached, computed)."""
    registration = registration_for(model)
    embedder = get_embedder()
    cache = VectorCache(embedder.model_name, *([cache_dir] if cache_dir else []))
    pending = indexing.active_embeddings(registration).filter(status=EmbeddingStatus.PENDING).values("object_id")
    hashes = [(obj.pk, registration.content_hash(obj)) for obj in registration.objects().filter(pk__in=pending).order_by("pk")]
    cached = [(pk, digest, cache.get(digest)) for pk, digest in hashes if cache.get(digest) is not None]
    for rows in pipeline.chunked(cached, 500):
        pipeline.write_vectors(registration, rows, embedder.model_name)
    missing = [pk for pk, digest in hashes if cache.get(digest) is None]
    batch = bookrec_settings.TASK_BATCH_SIZE
    with tqdm(total=len(missing), unit="book", desc=f"Embedding ({embedder.model_name})", disable=not progress) as bar:
        for number, chunk in enumerate(pipeline.chunked(missing, batch)):
            pipeline.embed_objects(registration, chunk, embedder=embedder)
            embedded = indexing.active_embeddings(registration).filter(object_id__in=chunk, status=EmbeddingStatus.EMBEDDED)
            for digest, vector in embedded.values_list("embedded_hash", "embedding"):
                cache.put(digest, vector)
            if number % 8 == 7:
                cache.save()  # an interrupted run keeps what it paid for
            bar.update(len(chunk))
    cache.save()
    return len(cached), len(missing)
