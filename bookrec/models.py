"""bookrec's tables: the ready-made ``Book``, and what bookrec keeps about any registered
object (``Document``: its text's fingerprint and full-text terms; ``Embedding``: its vector in
one embedding space). docs/design.md, "Host models", says why the vectors live beside the
host's rows rather than in them."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HalfVectorField


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    EMBEDDED = "embedded", "Embedded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (no text)"


class Book(models.Model):
    """The ready-made catalogue for sites that have none (and for the example site). It is a
    registered model like any host's (``BOOKREC["MODELS"]``), nothing more."""

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

    class Meta:
        ordering = ["title", "id"]
        indexes = [GinIndex(name="bookrec_book_subjects_gin", fields=["subjects"])]

    def __str__(self):
        return f"{self.title} — {self.author}" if self.author else self.title

    def save(self, *args, **kwargs):
        if not self.external_id:
            self.external_id = None  # a blank id would collide with every other blank id
        super().save(*args, **kwargs)


class Document(models.Model):
    """One registered object as bookrec last read it: the fingerprint of its text and its
    weighted full-text terms (the keyword leg). Keyed by content type and primary key, so the
    host's table is never altered."""

    model_label = models.CharField(max_length=100, help_text="The registered model, as app_label.modelname.")
    object_id = models.BigIntegerField()
    content_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the text to embed now; blank: the object has none.",
    )
    search_document = SearchVectorField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_label", "object_id"], name="bookrec_document_object")]
        indexes = [GinIndex(name="bookrec_document_search_gin", fields=["search_document"])]


class Embedding(models.Model):
    """One object's vector in one embedding space (the model that made it, with its width when
    not the model's own). Several spaces may stand side by side; queries read the active one.
    The column has no fixed width: each (model, space) has its own partial HNSW index
    over the vectors cast to the space's width (``bookrec.schema``)."""

    model_label = models.CharField(max_length=100, help_text="The registered model, as app_label.modelname.")
    object_id = models.BigIntegerField()
    space = models.CharField(max_length=200)
    embedding = HalfVectorField(null=True)
    embedded_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the text the stored vector was computed from.",
    )
    status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING, db_index=True,
    )
    error = models.TextField(blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_label", "object_id", "space"], name="bookrec_embedding_object_space")
        ]
