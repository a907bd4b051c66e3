"""Every recommendation says why: the leg(s) that found it, the query's words it has, the
subjects it shares with the book(s) asked about; in the API, the Python API and the admin."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookrec import recommend
from bookrec.conf import bookrec_settings
from bookrec.models import Book
from tests.books import at_angle, give_vector
from tests.sample_books import catalogue, client  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def results(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def words_of(text):
    return {word.lower() for word in re.findall(r"\w+", text)}


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_similar_books_say_which_leg_found_them_and_what_they_share(client, catalogue, mode):
    moby = catalogue["Moby-Dick"]
    found = results(client, f"/api/books/{moby.pk}/similar/", mode=mode, limit=6)
    legs = {mode} if mode != "hybrid" else {"vector", "keyword"}
    for row in found:
        why, book = row["explanation"], Book.objects.get(pk=row["book"]["id"])
        assert why["found_by"] and set(why["found_by"]) <= legs
        assert why["shared_subjects"] == sorted(set(book.subjects) & set(moby.subjects))
        # Matched terms are words of the query book, and words of the result too.
        assert set(map(str.lower, why["matched_terms"])) <= words_of(f"{moby.title} {moby.author} {moby.summary}")
        assert ("keyword" in why["found_by"]) == bool(why["matched_terms"])
    if mode == "hybrid":
        assert any(row["explanation"]["found_by"] == ["vector", "keyword"] for row in found)
    sea_wolf = next(row["explanation"] for row in found if row["book"]["title"] == "The Sea-Wolf")
    assert sea_wolf["shared_subjects"] == ["Adventure", "Sea stories"]


def test_search_results_show_the_query_words_they_match_as_written(client, catalogue):
    found = results(client, "/api/search/", q="Whaling voyages of Captain Ahab", mode="keyword", limit=3)
    assert found[0]["book"]["title"] == "Moby-Dick"
    why = found[0]["explanation"]
    assert why["found_by"] == ["keyword"] and why["shared_subjects"] == []
    # The query's own words, not PostgreSQL's stems ("voyag", "whale").
    assert set(why["matched_terms"]) >= {"Ahab", "Whaling"} and set(why["matched_terms"]) <= {
        "Whaling", "voyages", "Captain", "Ahab"
    }


@pytest.mark.parametrize("strategy", ["average_vector", "best_score"])
def test_a_taste_says_which_subjects_of_the_liked_books_each_result_has(client, catalogue, strategy):
    liked = [catalogue["Moby-Dick"], catalogue["A Study in Scarlet"]]
    response = client.post("/api/recommendations/", {"liked": [book.pk for book in liked], "strategy": strategy},
                           format="json")
    assert response.status_code == 200, response.content
    wanted = set().union(*(book.subjects for book in liked))
    for row in response.json()["results"]:
        book = Book.objects.get(pk=row["book"]["id"])
        assert row["explanation"] == {
            "found_by": ["vector"], "matched_terms": [], "shared_subjects": sorted(set(book.subjects) & wanted),
        }


def test_the_python_api_carries_the_explanation(catalogue):
    found = recommend.similar(catalogue["The Hound of the Baskervilles"], limit=3, mode="hybrid")
    doyle = next(item for item in found if item.object.title == "A Study in Scarlet")
    assert doyle.explanation.shared_subjects == ("Detective fiction",)
    assert "Holmes" in doyle.explanation.matched_terms and len(doyle.explanation.matched_terms) == 5
    assert str(doyle.explanation).startswith("found by vector and keyword; shares Detective fiction; matches ")


def test_explaining_costs_no_query_per_result(catalogue):
    def queries(limit):
        with CaptureQueriesContext(connection) as captured:
            list(recommend.similar(catalogue["Moby-Dick"], limit=limit, mode="hybrid"))
        return len(captured)

    queries(10)  # the first asks for what is then cached (the lexeme statistics)
    assert queries(2) == queries(10)


def test_subjects_of_a_many_to_many_field_are_shared_too(settings):
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {
        **bookrec_settings.MODELS, "auth.Group": {"TEXT": ["name"], "SUBJECTS": "permissions"},
    }}
    add, change, delete = Permission.objects.order_by("pk")[:3]
    query = give_vector(Group.objects.create(name="Editors"), at_angle(0))
    near = give_vector(Group.objects.create(name="Writers"), at_angle(10))
    far = give_vector(Group.objects.create(name="Readers"), at_angle(30))
    query.permissions.set([add, change])
    near.permissions.set([change, delete])
    far.permissions.set([delete])
    found = recommend.similar(query, mode="vector")
    assert [(item.object.name, item.explanation.shared_subjects) for item in found] == [
        ("Writers", (str(change),)), ("Readers", ()),
    ]


def test_a_field_of_one_value_is_one_subject(settings, catalogue):
    # A language is a subject as a whole, not letter by letter.
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {
        "bookrec.Book": {**bookrec_settings.MODELS["bookrec.Book"], "SUBJECTS": "language"},
    }}
    found = recommend.similar(catalogue["Moby-Dick"], mode="vector", limit=20)
    assert {item.object.language: item.explanation.shared_subjects for item in found} == {"en": ("en",), "zh": ()}
