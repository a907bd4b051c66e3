"""A reader's taste: books for someone who liked some books and disliked others.

The two strategies of Qdrant's recommend API:

- ``average_vector``: one query vector, ``avg(liked) + (avg(liked) - avg(disliked))`` (just
  ``avg(liked)`` with nothing disliked), the averages taken by pgvector's ``avg()`` in SQL,
  then an ordinary nearest-neighbour search.
- ``best_score``: each candidate is compared with every example; if its best similarity to a
  liked book beats its best to a disliked one, that is its score, otherwise the negated square
  of the latter. Candidates are the HNSW neighbours of each liked book (filters applied), and
  the scoring is one SQL query over them.

The given books are never recommended back.
"""

import numpy as np
from django.db import models
from django.db.models import Avg, Case, Value, When
from django.db.models.functions import Least
from django.db.models.lookups import GreaterThan
from django.utils.text import capfirst
from pgvector.django import CosineDistance

from bookrec import schema
from bookrec.conf import bookrec_settings
from bookrec.explanations import subjects_of_all
from bookrec.ranking import Mode, Query, RankingOptions, candidate_pool_size, rank, shape
from bookrec.recommendations import Recommendation, current_vectors, nearest, objects_by_pk
from bookrec.registry import registration_for


class Strategy(models.TextChoices):
    AVERAGE_VECTOR = "average_vector", "Average vector"
    BEST_SCORE = "best_score", "Best score"


class UnknownBooks(ValueError):
    def __init__(self, field, ids, plural="books"):
        self.field, self.ids = field, sorted(ids)
        super().__init__(f"No {plural} with ids {', '.join(map(str, self.ids))}.")


class ExamplesNotEmbedded(Exception):
    def __init__(self, ids, plural="books"):
        self.ids = sorted(ids)
        super().__init__(
            f"{capfirst(plural)} {', '.join(map(str, self.ids))} have no embedding from the current model yet."
        )


def check_examples(registration, liked, disliked):
    """Raise UnknownBooks (naming the field) or ExamplesNotEmbedded."""
    wanted = set(liked) | set(disliked)
    plural = str(registration.model._meta.verbose_name_plural)  # the examples are named as the model's
    known = set(registration.objects().filter(pk__in=wanted).values_list("pk", flat=True))
    for field, ids in (("liked", liked), ("disliked", disliked)):
        if set(ids) - known:
            raise UnknownBooks(field, set(ids) - known, plural)
    embedded = set(current_vectors(registration).filter(object_id__in=wanted).values_list("object_id", flat=True))
    if wanted - embedded:
        raise ExamplesNotEmbedded(wanted - embedded, plural)


def recommend_for_taste(liked, disliked=(), *, model, strategy=None, candidates=None, options=RankingOptions()):
    """A ``Ranking`` of objects of ``model`` (a registered model) for a reader who liked
    ``liked`` and disliked ``disliked`` (primary keys)."""
    registration = registration_for(model)
    liked, disliked = list(dict.fromkeys(liked)), list(dict.fromkeys(disliked))
    check_examples(registration, liked, disliked)
    strategy = strategy or bookrec_settings.TASTE_STRATEGY
    exclude = tuple(liked + disliked)
    liked_subjects = subjects_of_all(registration, liked)
    if strategy == Strategy.AVERAGE_VECTOR:
        query = Query(vector=taste_vector(registration, liked, disliked), exclude_ids=exclude, subjects=liked_subjects)
        return rank(query, registration, mode=Mode.VECTOR, candidates=candidates, options=options)
    if strategy == Strategy.BEST_SCORE:
        items = best_score_first_stage(registration, liked, disliked, candidates, options)
        query = Query(exclude_ids=exclude, subjects=liked_subjects)
        return shape(items, query, registration, mode=Mode.VECTOR, options=options)
    raise ValueError(f"Unknown strategy {strategy!r}.")


def average_of(registration, ids):
    return current_vectors(registration).filter(object_id__in=ids).aggregate(v=Avg("embedding"))["v"]


def taste_vector(registration, liked, disliked):
    positive = np.asarray(average_of(registration, liked), dtype=np.float64)
    if not disliked:
        return positive
    return positive + (positive - np.asarray(average_of(registration, disliked), dtype=np.float64))


def closest(vectors):
    """SQL: the smallest cosine distance from the row's vector to any of ``vectors``."""
    distances = [CosineDistance(schema.vector_expression(), vector) for vector in vectors]
    return distances[0] if len(distances) == 1 else Least(*distances)


def best_score_first_stage(registration, liked, disliked, candidates, options):
    limit = options.limit or bookrec_settings.DEFAULT_LIMIT
    pool = candidate_pool_size(limit, Mode.VECTOR, options)
    candidates = candidates if candidates is not None else registration.objects()
    vectors = dict(
        current_vectors(registration).filter(object_id__in=liked + disliked).values_list("object_id", "embedding")
    )
    exclude = liked + disliked
    candidate_ids = set()
    for pk in liked:  # each liked object's own neighbourhood, through the HNSW index
        found = nearest(registration, vectors[pk], candidates=candidates, limit=pool, exclude_ids=exclude)
        candidate_ids.update(item.object.pk for item in found)
    best_positive = Value(1.0) - closest([vectors[pk] for pk in liked])
    if disliked:
        best_negative = Value(1.0) - closest([vectors[pk] for pk in disliked])
        score = Case(
            When(GreaterThan(best_positive, best_negative), then=best_positive),
            default=-best_negative * best_negative,
            output_field=models.FloatField(),
        )
    else:
        score = best_positive
    ranked = list(
        current_vectors(registration).filter(object_id__in=candidate_ids)
        .annotate(best_positive=best_positive, best_score=score)
        .order_by("-best_score", "object_id").values_list("object_id", "best_positive", "best_score")[:pool]
    )
    objects = objects_by_pk(candidates, [pk for pk, _, _ in ranked])
    return [
        Recommendation(objects[pk], positive, best, found_by=("vector",)) for pk, positive, best in ranked if pk in objects
    ]
