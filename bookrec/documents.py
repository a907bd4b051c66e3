"""What is embedded for a book, and its fingerprint."""

import hashlib

from django.contrib.postgres.search import SearchVector

from bookrec.conf import bookrec_settings


def has_embeddable_text(book):
    # A title alone would place a book by the words of its name: better no vector.
    return bool((book.summary or "").strip())


def document_text(book):
    """The book rendered through ``DOCUMENT_TEMPLATE``, stripped and cut to size."""
    text = bookrec_settings.DOCUMENT_TEMPLATE.format(
        title=book.title or "",
        author=book.author or "",
        summary=book.summary or "",
        language=book.language or "",
        subjects=", ".join(book.subjects or []),
        year=book.year or "",
    )
    return text.strip()[: bookrec_settings.EMBEDDING_MAX_CHARS]


def document_hash(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def full_text_expression(config):
    """The book's full-text document (``Book.search_document``): title, author and summary,
    weighted A, B, C, normalised by the text-search configuration ``config``."""
    return (
        SearchVector("title", weight="A", config=config)
        + SearchVector("author", weight="B", config=config)
        + SearchVector("summary", weight="C", config=config)
    )
