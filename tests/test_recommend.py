"""bookrec's Python API (bookrec.recommend) on real PostgreSQL, with vectors from the local model:
the host's own objects come back, filters and querysets narrow the candidates, and every mistake
is an error that names it. A second registered model (Django's own ``auth.Group``) goes through
the same three functions."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError

from bookrec import pipeline, recommend
from bookrec.conf import DEFAULTS
from bookrec.models import Book
from bookrec.recommendations import NotEmbedded, Recommendation
from bookrec.registry import NotRegistered, registration_for
from bookrec.taste import UnknownBooks
from tests.books import make_book
from tests.sample_books import analyse, catalogue  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

DETECTIVES = {"A Study in Scarlet", "The Hound of the Baskervilles", "The Moonstone"}
SEA = {"Moby-Dick", "Typee", "The Sea-Wolf", "Two Years Before the Mast"}


def titles(found):
    return [item.object.title for item in found]


def test_similar_gives_the_hosts_own_objects_best_first(catalogue):
    found = recommend.similar(catalogue["A Study in Scarlet"], limit=2)
    assert len(found) == 2 and set(titles(found)) <= DETECTIVES - {"A Study in Scarlet"}
    assert all(isinstance(item, Recommendation) and isinstance(item.object, Book) for item in found)
    assert all(-1 <= item.similarity <= 1 for item in found)
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)
    assert found.mode == "hybrid"


def test_filters_narrow_the_candidates_and_limit_rows_still_come_back(catalogue):
    # The sea books' nearest neighbours are sea books: the filter is applied inside the query.
    found = recommend.similar(catalogue["Moby-Dick"], mode="vector", limit=3, filters={"subject": "Detective fiction"})
    assert set(titles(found)) == DETECTIVES
    found = recommend.similar(catalogue["Moby-Dick"], limit=2, filters={"author": "melville", "year_max": 1850})
    assert titles(found) == ["Typee"]


@pytest.mark.parametrize("filters, field", [({"year_min": "long ago"}, "year_min"), ({"langauge": "en"}, "langauge")])
def test_a_bad_or_unknown_filter_is_an_error_naming_it(catalogue, filters, field):
    with pytest.raises(ValidationError) as raised:
        recommend.similar(catalogue["Moby-Dick"], filters=filters)
    assert list(raised.value.message_dict) == [field]


def test_a_queryset_narrows_the_candidates(catalogue):
    found = recommend.similar(catalogue["Moby-Dick"], mode="vector", queryset=Book.objects.filter(year__lt=1850))
    assert found and all(item.object.year < 1850 for item in found)
    assert "Moby-Dick" not in titles(found)
    with pytest.raises(ValueError, match="queryset is of auth.User"):
        recommend.similar(catalogue["Moby-Dick"], queryset=User.objects.all())


def test_similar_raises_not_embedded_for_an_object_without_a_vector_except_by_keyword(catalogue):
    pending = make_book(title="Whales and whaling", summary="A whaling voyage on the oceans.")
    with pytest.raises(NotEmbedded):
        recommend.similar(pending)
    assert "Moby-Dick" in titles(recommend.similar(pending, mode="keyword", limit=3))


def test_search_by_model_or_label(catalogue):
    found = recommend.search(Book, "a detective investigates a murder", limit=3)
    assert set(titles(found)) == DETECTIVES
    assert titles(recommend.search("bookrec.Book", "a detective investigates a murder", limit=3)) == titles(found)
    found = recommend.search(Book, "ships and sailors", limit=2, filters={"author": "london"})
    assert titles(found) == ["The Sea-Wolf"]


def test_search_refuses_a_blank_or_too_long_text(catalogue, bookrec):
    with pytest.raises(ValueError, match="blank"):
        recommend.search(Book, "  ")
    bookrec(MAX_QUERY_CHARS=10)
    with pytest.raises(ValueError, match=r"MAX_QUERY_CHARS \(10"):
        recommend.search(Book, "whales and the sea")


def test_for_taste_takes_instances_or_primary_keys(catalogue):
    liked = [catalogue["A Study in Scarlet"], catalogue["The Hound of the Baskervilles"]]
    found = recommend.for_taste(liked, limit=1)
    assert titles(found) == ["The Moonstone"]
    assert titles(recommend.for_taste([book.pk for book in liked], model=Book, limit=1)) == ["The Moonstone"]
    assert titles(recommend.for_taste([book.pk for book in liked], model="bookrec.Book", limit=1)) == ["The Moonstone"]
    with pytest.raises(ValueError, match="model="):
        recommend.for_taste([book.pk for book in liked])
    with pytest.raises(UnknownBooks):
        recommend.for_taste([999999], model=Book)


def test_for_taste_leaves_out_what_was_disliked_and_given(catalogue):
    liked, disliked = [catalogue["Moby-Dick"]], [catalogue["Typee"]]
    found = recommend.for_taste(liked, disliked, limit=5, strategy="best_score")
    assert not {"Moby-Dick", "Typee"} & set(titles(found))


def test_an_unregistered_model_is_not_registered(catalogue):
    user = User.objects.create(username="reader")
    with pytest.raises(NotRegistered):
        recommend.similar(user)
    with pytest.raises(NotRegistered):
        recommend.search("auth.Group", "anything")
    with pytest.raises(NotRegistered):
        recommend.for_taste([user])


@pytest.mark.parametrize("options, message", [
    ({"limit": 101}, r"limit must be a whole number from 1 to 100 \(MAX_LIMIT\), not 101"),
    ({"limit": 0}, "limit must be"),
    ({"limit": "5"}, "limit must be"),
    ({"diversity": 2}, "diversity must be a number from 0 to 1"),
    ({"min_similarity": -3}, "min_similarity must be"),
    ({"max_per_author": 0}, "max_per_author must be"),
    ({"rerank": True}, "no reranker is configured"),
    ({"mode": "telepathy"}, "Unknown mode"),
])
def test_bad_options_are_value_errors_naming_them(catalogue, options, message):
    with pytest.raises(ValueError, match=message):
        recommend.similar(catalogue["Moby-Dick"], **options)


def test_the_limit_follows_max_limit(catalogue, bookrec):
    bookrec(MAX_LIMIT=3)
    with pytest.raises(ValueError, match=r"from 1 to 3 \(MAX_LIMIT\)"):
        recommend.search(Book, "the sea", limit=4)
    assert len(recommend.search(Book, "the sea", limit=3)) == 3


# A second registered model: Django's own groups, named like the catalogue's neighbourhoods.

GROUP_NAMES = [
    "Sailors on whaling ships crossing stormy oceans",
    "Seamen and whalers of the South Seas",
    "Detectives who investigate murders in London",
    "Cooks of French sauces, soups and pastry",
]


@pytest.fixture
def groups(settings):
    settings.BOOKREC = {
        **settings.BOOKREC,
        "MODELS": {**DEFAULTS["MODELS"], "auth.Group": {"TEXT": ["name"], "FILTERS": {"name": ["icontains"]}}},
    }
    created = [Group.objects.create(name=name) for name in GROUP_NAMES]  # saved: bookrec syncs them
    report = pipeline.embed_objects(registration_for(Group), [group.pk for group in created])
    assert not report.failed
    analyse()
    return created


def test_a_second_model_similar(groups):
    sailors, seamen, detectives, cooks = groups
    found = recommend.similar(sailors, limit=1)
    assert [item.object for item in found] == [seamen] and isinstance(found[0].object, Group)
    found = recommend.similar(sailors, limit=2, filters={"name__icontains": "cook"})
    assert [item.object for item in found] == [cooks]


def test_a_second_model_search(groups, catalogue):
    sailors, seamen, detectives, cooks = groups
    found = recommend.search("auth.Group", "ships and the sea", limit=2)
    assert {item.object for item in found} == {sailors, seamen}
    assert titles(recommend.search(Book, "ships and the sea", limit=1))[0] in SEA  # each model its own
    with pytest.raises(ValidationError) as raised:
        recommend.search(Group, "the sea", filters={"language": "en"})
    assert list(raised.value.message_dict) == ["language"]


def test_a_second_model_for_taste(groups):
    sailors, seamen, detectives, cooks = groups
    found = recommend.for_taste([sailors], disliked=[cooks], limit=1)
    assert [item.object for item in found] == [seamen]
    assert [item.object for item in recommend.for_taste([sailors.pk], model=Group, limit=1)] == [seamen]
    with pytest.raises(ValueError, match="several models"):
        recommend.for_taste([sailors], disliked=[Book.objects.create(title="x", summary="y")])
