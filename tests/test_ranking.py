"""Similar books by mode, filters, threshold and diversity: the ranking pipeline through the
API, on real PostgreSQL with vectors from the local model."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookrec import ranking
from bookrec.models import Book
from bookrec.ranking import Mode, Query, RankingOptions
from bookrec.registry import registration_for
from tests.books import state
from tests.sample_books import client, catalogue, result_titles  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def similar(client, book, **params):
    response = client.get(f"/api/books/{book.pk}/similar/", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_every_mode_finds_the_neighbourhood_and_never_the_book_itself(client, catalogue, mode):
    book = catalogue["A Study in Scarlet"]
    payload = similar(client, book, mode=mode, limit=2)
    assert payload["mode"] == mode
    assert "A Study in Scarlet" not in result_titles(payload)
    assert set(result_titles(payload)) <= {"The Hound of the Baskervilles", "The Moonstone"}
    scores = [row["score"] for row in payload["results"]]
    assert scores == sorted(scores, reverse=True)


def test_the_default_mode_is_the_configured_one(client, catalogue, settings):
    book = catalogue["Moby-Dick"]
    assert similar(client, book)["mode"] == settings.BOOKREC.get("SIMILAR_MODE", "hybrid")
    settings.BOOKREC = {**settings.BOOKREC, "SIMILAR_MODE": "keyword"}
    assert similar(client, book)["mode"] == "keyword"


def test_vector_scores_are_cosine_similarities(client, catalogue):
    book = catalogue["Moby-Dick"]
    payload = similar(client, book, mode="vector", limit=3)
    stored = {book.title: state(book).embedding for book in Book.objects.all()}
    mine = np.asarray(stored["Moby-Dick"])
    for row in payload["results"]:
        other = np.asarray(stored[row["book"]["title"]])
        expected = mine @ other / np.linalg.norm(mine) / np.linalg.norm(other)
        assert row["similarity"] == pytest.approx(expected, abs=2e-3)
        assert row["score"] == row["similarity"]


def test_hybrid_scores_are_reciprocal_rank_fusion_of_both_rankings(catalogue):
    book = catalogue["Moby-Dick"]
    k = 60
    by_vector = [r.object.pk for r in ranking.rank_similar(book, mode="vector", options=RankingOptions(limit=50)).results]
    by_keyword = [r.object.pk for r in ranking.rank_similar(book, mode="keyword", options=RankingOptions(limit=50)).results]
    hybrid = ranking.rank_similar(book, mode="hybrid", options=RankingOptions(limit=5)).results
    for item in hybrid:
        expected = sum(1 / (k + ranks.index(item.object.pk) + 1) for ranks in (by_vector, by_keyword) if item.object.pk in ranks)
        assert item.score == pytest.approx(expected)


def test_filters_keep_limit_whenever_that_many_match(client, catalogue):
    book = catalogue["Moby-Dick"]
    for mode in ["vector", "hybrid"]:
        payload = similar(client, book, mode=mode, subject="Cookery", limit=5)
        assert sorted(result_titles(payload)) == ["Modern Cookery for Private Families", "The Art of French Cooking"]
    payload = similar(client, book, mode="vector", language="en", limit=8)
    assert len(payload["results"]) == 8


def test_year_range_and_author_filters(client, catalogue):
    book = catalogue["Moby-Dick"]
    payload = similar(client, book, mode="vector", year_min=1850, year_max=1900, limit=20)
    years = {row["book"]["year"] for row in payload["results"]}
    assert years and all(1850 <= year <= 1900 for year in years)
    assert len(payload["results"]) == Book.objects.filter(year__range=(1850, 1900)).exclude(pk=book.pk).count()
    payload = similar(client, book, mode="hybrid", author="darwin")
    assert {row["book"]["author"] for row in payload["results"]} == {"Charles Darwin"}


def test_min_similarity_leaves_out_the_less_similar(client, catalogue):
    book = catalogue["Moby-Dick"]
    everything = similar(client, book, mode="vector", limit=20)["results"]
    threshold = everything[2]["similarity"]
    payload = similar(client, book, mode="hybrid", min_similarity=threshold, limit=20)
    assert payload["results"] and all(row["similarity"] >= threshold for row in payload["results"])
    assert len(payload["results"]) == sum(1 for row in everything if row["similarity"] >= threshold)


def test_max_per_author_caps_each_author(client, catalogue):
    book = catalogue["Two Years Before the Mast"]
    payload = similar(client, book, mode="hybrid", max_per_author=1, limit=10)
    authors = [row["book"]["author"] for row in payload["results"]]
    other_authors = set(Book.objects.exclude(author=book.author).values_list("author", flat=True))
    assert len(authors) == len(set(authors)) == len(other_authors)


def test_diversity_brings_in_a_different_kind_of_book(catalogue):
    book = catalogue["The Hound of the Baskervilles"]
    plain = ranking.rank_similar(book, mode="vector", options=RankingOptions(limit=3)).results
    diverse = ranking.rank_similar(book, mode="vector", options=RankingOptions(limit=3, diversity=0.9)).results
    assert plain[0].object == diverse[0].object  # the most relevant book is always first
    detective = {"A Study in Scarlet", "The Moonstone"}
    assert sum(item.object.title in detective for item in plain) > sum(item.object.title in detective for item in diverse)


def queries_of(function):
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured.captured_queries)


def test_diversity_reads_every_candidate_vector_in_one_query(catalogue):
    book = catalogue["The Hound of the Baskervilles"]
    plain = queries_of(lambda: ranking.rank_similar(book, mode="vector", options=RankingOptions(limit=3, max_per_author=9)))
    diverse = queries_of(lambda: ranking.rank_similar(book, mode="vector", options=RankingOptions(limit=3, diversity=0.5)))
    # Both rank a pool of CANDIDATE_POOL books; diversity adds the one read of their vectors.
    assert diverse == plain + 1


def test_keyword_mode_works_for_a_book_not_embedded_yet(client, catalogue):
    book = Book.objects.create(title="The Whale Hunters", author="Anon", summary="Whaling ships hunt the whale at sea.")
    payload = similar(client, book, mode="keyword", limit=2)
    assert "Moby-Dick" in result_titles(payload)
    assert payload["results"][0]["similarity"] is None
    response = client.get(f"/api/books/{book.pk}/similar/", {"mode": "hybrid"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    "params, field",
    [
        ({"mode": "semantic"}, "mode"),
        ({"limit": 0}, "limit"),
        ({"min_similarity": 2}, "min_similarity"),
        ({"diversity": -0.1}, "diversity"),
        ({"max_per_author": 0}, "max_per_author"),
        ({"rerank": "true"}, "rerank"),
        ({"colour": "red"}, "colour"),
        ({"year_min": "soon"}, "year_min"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(client, catalogue, params, field):
    response = client.get(f"/api/books/{catalogue['Moby-Dick'].pk}/similar/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_min_similarity_without_a_query_vector_is_refused(catalogue):
    with pytest.raises(ValueError):
        ranking.rank(Query(vector=None, terms=[]), registration_for(Book), mode=Mode.KEYWORD,
                     options=RankingOptions(min_similarity=0.5))


def test_the_recommend_command_uses_the_same_service(catalogue, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    book = catalogue["The Moonstone"]
    call_command("recommend", similar=book.pk, mode="keyword", limit=2)
    lines = capsys.readouterr().out.splitlines()
    expected = ranking.rank_similar(book, mode="keyword", options=RankingOptions(limit=2)).results
    assert lines[0] == "mode: keyword"
    assert [line.split(maxsplit=3)[2] for line in lines[1:]] == [str(item.object.pk) for item in expected]
    call_command("recommend", search="recipes", mode="keyword", limit=1)
    assert "Cook" in capsys.readouterr().out
    call_command("recommend", liked=[book.pk], strategy="best_score", limit=1)
    assert "mode: vector" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No books with ids 999999"):
        call_command("recommend", liked=[999999])
