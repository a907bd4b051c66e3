"""The embedding spaces stored side by side: what each holds, and freeing one no longer used.

A space is the name of the model (with its width, when not the model's own) that made its
vectors (``indexing.active_space``). Vectors of every space a site has used stay until dropped
here, each with its own HNSW index; queries read only the active space's.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count

from bookrec import schema
from bookrec.indexing import active_space
from bookrec.models import Embedding, EmbeddingStatus


class ActiveSpaceError(ValueError):
    """The active space serves every query: it cannot be dropped."""


@dataclass
class SpaceSummary:
    registration: object  # bookrec.registry.Registration
    space: str
    active: bool
    indexed: bool
    counts: dict = field(default_factory=dict)  # rows by status

    @property
    def rows(self):
        return sum(self.counts.values())

    @property
    def coverage(self):
        """The share of the objects with text that have a vector here (None: none has text)."""
        with_text = self.rows - self.counts.get(EmbeddingStatus.SKIPPED, 0)
        return self.counts.get(EmbeddingStatus.EMBEDDED, 0) / with_text if with_text else None


def summaries(registrations, using="default"):
    """One ``SpaceSummary`` per registered model and space it has rows in (the active space
    always, first), in one query."""
    counts = defaultdict(dict)
    rows = (
        Embedding.objects.using(using)
        .filter(model_label__in=[registration.model_label for registration in registrations])
        .values_list("model_label", "space", "status").annotate(rows=Count("id")).order_by()
    )
    for model_label, space, status, count in rows:
        counts[model_label, space][status] = count
    current = active_space()
    found = []
    for registration in registrations:
        spaces = sorted({space for label, space in counts if label == registration.model_label} - {current})
        for space in [current, *spaces]:
            found.append(SpaceSummary(
                registration=registration, space=space, active=space == current,
                indexed=schema.index_exists(registration, space, using), counts=counts[registration.model_label, space],
            ))
    return found


def drop_space(registration, space, using="default"):
    """Delete this model's vectors in ``space`` and their index, to free the storage of a space
    no longer used. Returns how many rows were deleted; refuses the active space."""
    if space == active_space():
        raise ActiveSpaceError(f"{space!r} is the active space: it serves every query.")
    with transaction.atomic(using=using):
        schema.drop_index(registration, space, using)
        deleted, _ = Embedding.objects.using(using).filter(model_label=registration.model_label, space=space).delete()
    return deleted
