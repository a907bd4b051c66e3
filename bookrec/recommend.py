"""bookrec's Python API: recommendations for a site's own views, templates, tasks and shell.

    from bookrec import recommend

    recommend.similar(book, limit=5)                                       # objects like this one
    recommend.search("catalog.Book", "whaling voyages", filters={"language": "en"})  # about a text
    recommend.for_taste([moby_dick, typee], disliked=[cookbook])           # for a reader's taste

Each answers with a list of ``Recommendation``, best first: ``.object`` is the registered model's
own instance, ``.similarity`` its cosine similarity to the query (None without a vector), ``.score``
what the order follows, ``.explanation`` why it is there (``bookrec.explanations.Explanation``:
``found_by``, ``matched_terms``, ``shared_subjects``). The list also says how it was found:
``.mode``, ``.reranked``, ``.notice``.

Options, the same for all three:

- ``limit``: how many (default ``DEFAULT_LIMIT``, at most ``MAX_LIMIT``);
- ``filters``: a dict for the model's FilterSet (``FILTERS`` or ``FILTERSET`` in
  ``BOOKREC["MODELS"]``), e.g. ``{"language": "en", "year_min": 1900}``;
- ``queryset``: the objects to choose from (default: all of them), e.g. only the published ones;
- ``mode`` (``vector``, ``keyword`` or ``hybrid``; default ``SIMILAR_MODE`` / ``SEARCH_MODE``), or
  ``strategy`` for a taste (``average_vector`` or ``best_score``; default ``TASTE_STRATEGY``);
- ``diversity`` (0 to 1), ``max_per_author``, ``min_similarity`` (-1 to 1) and ``rerank`` (None:
  whenever a reranker is configured).

Errors: ``NotRegistered`` (the model is not in ``BOOKREC["MODELS"]``); ``NotEmbedded``
(``similar()`` in vector or hybrid mode while the object has no vector: keyword mode needs none);
``SearchUnavailable`` (the text could not be embedded); ``UnknownBooks`` and
``ExamplesNotEmbedded`` (a taste's examples); Django's ``ValidationError`` (a filter, by name);
``ValueError`` (any other option). Pages that must render either way use ``bookrec.views`` and the
``bookrec`` template tags, which show nothing rather than raise while an object has no vector.
"""

from django.core.exceptions import ValidationError
from django.db import models

from bookrec.conf import bookrec_settings
from bookrec.ranking import RankingOptions, rank_similar
from bookrec.registry import registration_for
from bookrec.rerank import reranking_enabled
from bookrec.search import search_objects
from bookrec.taste import recommend_for_taste


def similar(obj, *, limit=None, filters=None, mode=None, diversity=0.0, max_per_author=None,
            min_similarity=None, rerank=None, queryset=None):
    """Objects like ``obj`` (an instance of a registered model), ``obj`` itself left out.

    Raises ``NotEmbedded`` in vector and hybrid mode while ``obj`` has no vector."""
    registration = registration_for(obj)
    options = ranking_options(limit, min_similarity, diversity, max_per_author, rerank)
    return rank_similar(obj, mode=mode, candidates=candidates(registration, filters, queryset), options=options)


def search(model, text, *, limit=None, filters=None, mode=None, diversity=0.0, max_per_author=None,
           min_similarity=None, rerank=None, queryset=None):
    """Objects of ``model`` (a registered model class, or ``"app_label.ModelName"``) about ``text``."""
    registration = registration_for(model)
    text = (text or "").strip()
    if not text:
        raise ValueError("Nothing to search for: the text is blank.")
    if len(text) > bookrec_settings.MAX_QUERY_CHARS:
        raise ValueError(f"The text is longer than MAX_QUERY_CHARS ({bookrec_settings.MAX_QUERY_CHARS} characters).")
    options = ranking_options(limit, min_similarity, diversity, max_per_author, rerank)
    return search_objects(
        registration.model, text, mode=mode, candidates=candidates(registration, filters, queryset), options=options
    )


def for_taste(liked, disliked=(), *, model=None, limit=None, filters=None, strategy=None, diversity=0.0,
              max_per_author=None, min_similarity=None, rerank=None, queryset=None):
    """Objects for a reader who liked ``liked`` and disliked ``disliked``: instances, or primary
    keys of ``model`` (which instances imply). The examples are never recommended back."""
    liked, disliked = list(liked), list(disliked)
    if not liked:
        raise ValueError("A taste needs at least one liked object.")
    registration = registration_for(model or examples_model(liked + disliked))
    options = ranking_options(limit, min_similarity, diversity, max_per_author, rerank)
    return recommend_for_taste(
        example_pks(registration, liked), example_pks(registration, disliked), model=registration.model,
        strategy=strategy, candidates=candidates(registration, filters, queryset), options=options,
    )


def candidates(registration, filters=None, queryset=None):
    """The objects to recommend from: ``queryset`` (default: all) narrowed by ``filters``, which the
    registration's FilterSet checks (``ValidationError`` naming each bad or unknown filter)."""
    if queryset is not None and queryset.model._meta.concrete_model is not registration.model:
        raise ValueError(f"The queryset is of {queryset.model._meta.label}, not of {registration}.")
    if not filters:
        return queryset
    filterset_class = registration.filterset_class
    known = list(filterset_class.base_filters)
    unknown = sorted(set(filters) - set(known))
    if unknown:
        message = f"Unknown filter for {registration}; its filters are: {', '.join(known) or 'none'}."
        raise ValidationError({name: message for name in unknown})
    filterset = filterset_class(filters, queryset=registration.objects() if queryset is None else queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors.as_data())
    return filterset.qs


def ranking_options(limit, min_similarity, diversity, max_per_author, rerank):
    """The options as ``RankingOptions``, each checked (``ValueError`` naming it)."""
    if limit is not None:
        check_number("limit", limit, 1, bookrec_settings.MAX_LIMIT, whole=True, high_name="MAX_LIMIT")
    if min_similarity is not None:
        check_number("min_similarity", min_similarity, -1, 1)
    check_number("diversity", diversity, 0, 1)
    if max_per_author is not None:
        check_number("max_per_author", max_per_author, 1, whole=True)
    if rerank and not reranking_enabled():
        raise ValueError("rerank=True, but no reranker is configured (RERANK_BASE_URL is empty).")
    return RankingOptions(
        limit=limit, min_similarity=min_similarity, diversity=diversity, max_per_author=max_per_author, rerank=rerank
    )


def check_number(name, value, low, high=None, *, whole=False, high_name=""):
    kinds = int if whole else (int, float)
    if isinstance(value, kinds) and not isinstance(value, bool) and low <= value and (high is None or value <= high):
        return
    bounds = f"{low} or more" if high is None else f"from {low} to {high}" + (f" ({high_name})" if high_name else "")
    raise ValueError(f"{name} must be a {'whole ' if whole else ''}number {bounds}, not {value!r}.")


def examples_model(examples):
    """The model of the instances among a taste's examples."""
    found = {type(item)._meta.concrete_model for item in examples if isinstance(item, models.Model)}
    if not found:
        raise ValueError("Give model= when the liked and disliked objects are primary keys.")
    if len(found) > 1:
        raise ValueError(f"The examples are of several models: {', '.join(sorted(m._meta.label for m in found))}.")
    return found.pop()


def example_pks(registration, examples):
    """Primary keys of a taste's examples (instances of the registered model, or keys already)."""
    pks = []
    for item in examples:
        if isinstance(item, models.Model):
            if type(item)._meta.concrete_model is not registration.model:
                raise ValueError(f"{item!r} is a {item._meta.label}, not a {registration}.")
            item = item.pk
        pks.append(item)
    return pks
