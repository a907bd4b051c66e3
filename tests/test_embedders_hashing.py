"""The free hashing embedder: deterministic unit vectors, unrelated for different texts."""

import numpy as np
import pytest

from bookrec.conf import bookrec_settings
from bookrec.embedders.hashing import HashingEmbedder


@pytest.fixture
def embedder(settings):
    settings.BOOKREC = {**settings.BOOKREC, "EMBEDDING_DIMENSIONS": 1024}
    return HashingEmbedder(bookrec_settings)


def test_same_text_same_unit_vector_of_the_configured_width(embedder):
    first, again, other = embedder.embed_documents(["A tale of two cities", "A tale of two cities", "Moby Dick"])

    assert first.shape == (1024,)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(first, again)
    assert abs(float(first @ other)) < 0.2  # unrelated texts: nearly orthogonal


def test_queries_and_documents_differ_and_blank_texts_are_not_embedded(embedder):
    document, blank = embedder.embed_documents(["Moby Dick", "   "])

    assert blank is None
    assert not np.array_equal(embedder.embed_query("Moby Dick"), document)
    assert embedder.model_name == "bookrec/hashing-sha256"
