from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HalfVectorField, HnswIndex

from bookrec.conf import bookrec_settings
from bookrec.documents import document_hash, document_text, full_text_expression, has_embeddable_text


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    EMBEDDED = "embedded", "Embedded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (no summary)"


class BookQuerySet(models.QuerySet):
    def with_current_embedding(self):
        """Books whose vector was made by the configured model: the only ones compared."""
        from bookrec.embedders import get_embedder

        return self.filter(
            embedding_status=EmbeddingStatus.EMBEDDED,
            embedding_model=get_embedder().model_name,
        )

    def needing_embedding(self):
        """Pending, failed, or embedded by another model than the configured one."""
        from bookrec.embedders import get_embedder

        stale = models.Q(embedding_status=EmbeddingStatus.EMBEDDED) & ~models.Q(
            embedding_model=get_embedder().model_name
        )
        return self.filter(
            stale | models.Q(embedding_status__in=[EmbeddingStatus.PENDING, EmbeddingStatus.FAILED])
        )


class Book(models.Model):
    external_id = models.CharField(
        max_length=200, unique=True, null=True, blank=True,
        help_text="Identifier in the source catalogue; imports upsert on it.",
    )
    title = models.CharField(max_length=500)
    author = models.CharField(max_length=300, blank=True)
    summary = models.TextField(blank=True)
    language = models.CharField(max_length=16, blank=True, db_index=True, help_text="ISO 639 code, e.g. en, zh.")
    subjects = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    year = models.SmallIntegerField(null=True, blank=True, help_text="Year of first publication.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    embedding = HalfVectorField(dimensions=bookrec_settings.dimensions, null=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, editable=False)
    content_hash = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="SHA-256 of the text to embed now.",
    )
    embedded_hash = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="SHA-256 of the text the stored vector was computed from.",
    )
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING,
        db_index=True, editable=False,
    )
    embedding_error = models.TextField(blank=True, editable=False)
    embedded_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Full-text document for keyword and hybrid ranking, kept by PostgreSQL itself
    # (docs/search.md says why a stored generated column rather than an expression index).
    search_document = models.GeneratedField(
        expression=full_text_expression(bookrec_settings.TEXT_SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = BookQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            HnswIndex(
                name="bookrec_book_embedding_hnsw",
                fields=["embedding"],
                m=bookrec_settings.HNSW_M,
                ef_construction=bookrec_settings.HNSW_EF_CONSTRUCTION,
                opclasses=["halfvec_cosine_ops"],
            ),
            GinIndex(name="bookrec_book_subjects_gin", fields=["subjects"]),
            GinIndex(name="bookrec_book_search_gin", fields=["search_document"]),
        ]

    def __str__(self):
        return f"{self.title} — {self.author}" if self.author else self.title

    EMBEDDING_STATE_FIELDS = [
        "content_hash", "embedding", "embedded_hash", "embedding_model",
        "embedded_at", "embedding_error", "embedding_status",
    ]

    def refresh_embedding_state(self):
        """Mark the book pending (or skipped) if the text to embed changed.

        Returns True when the embedding state changed. A changed text clears the old
        vector, so a vector never stands for text the book no longer has.
        """
        digest = document_hash(document_text(self)) if has_embeddable_text(self) else ""
        if digest == self.content_hash and self.pk is not None:
            return False
        self.content_hash = digest
        self.embedding = None
        self.embedded_hash = ""
        self.embedding_model = ""
        self.embedded_at = None
        self.embedding_error = ""
        self.embedding_status = EmbeddingStatus.PENDING if digest else EmbeddingStatus.SKIPPED
        return True

    def save(self, *args, **kwargs):
        if not self.external_id:
            self.external_id = None  # a blank id would collide with every other blank id
        state_changed = self.refresh_embedding_state()
        if state_changed and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], *self.EMBEDDING_STATE_FIELDS}
        super().save(*args, **kwargs)
        if state_changed and self.embedding_status == EmbeddingStatus.PENDING:
            from bookrec.pipeline import queue_embedding_on_commit

            queue_embedding_on_commit([self.pk])
