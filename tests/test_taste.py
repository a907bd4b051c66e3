"""A reader's taste: POST /api/recommendations/ with both of Qdrant's strategies."""

import numpy as np
import pytest

from bookrec import taste
from bookrec.models import Book
from bookrec.registry import registration_for
from tests.books import state
from tests.sample_books import client, catalogue, result_titles  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def recommend(client, **body):
    response = client.post("/api/recommendations/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def stored_vector(book):
    return np.asarray(state(book).embedding, dtype=np.float64)


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("strategy", ["average_vector", "best_score"])
def test_liked_books_lead_to_their_kind_and_are_never_returned(client, catalogue, strategy):
    liked = [catalogue["A Study in Scarlet"].pk, catalogue["The Hound of the Baskervilles"].pk]
    payload = recommend(client, liked=liked, strategy=strategy, limit=3)
    assert result_titles(payload)[0] == "The Moonstone"
    assert not {row["book"]["id"] for row in payload["results"]} & set(liked)


def test_average_vector_is_liked_average_pushed_away_from_disliked(catalogue):
    liked = [catalogue["Moby-Dick"], catalogue["Typee"]]
    disliked = [catalogue["The Art of French Cooking"]]
    average = np.mean([stored_vector(book) for book in liked], axis=0)
    expected = average + (average - stored_vector(disliked[0]))
    vector = taste.taste_vector(registration_for(Book), [b.pk for b in liked], [b.pk for b in disliked])
    assert np.allclose(vector, expected, atol=2e-3)
    assert np.allclose(taste.taste_vector(registration_for(Book), [b.pk for b in liked], []), average, atol=2e-3)


def test_average_vector_scores_are_similarities_to_that_vector(client, catalogue):
    liked, disliked = [catalogue["Moby-Dick"].pk, catalogue["Typee"].pk], [catalogue["The Sea-Wolf"].pk]
    payload = recommend(client, liked=liked, disliked=disliked, limit=4)
    vector = taste.taste_vector(registration_for(Book), liked, disliked)
    for row in payload["results"]:
        book = Book.objects.get(pk=row["book"]["id"])
        assert row["similarity"] == pytest.approx(cosine(vector, stored_vector(book)), abs=2e-3)
    assert "The Sea-Wolf" not in result_titles(payload)


def test_best_score_follows_qdrants_formula(client, catalogue):
    liked = [catalogue["Moby-Dick"], catalogue["On the Origin of Species"]]
    disliked = [catalogue["Typee"]]
    payload = recommend(
        client, liked=[b.pk for b in liked], disliked=[b.pk for b in disliked], strategy="best_score", limit=9
    )
    assert len(payload["results"]) == 9
    for row in payload["results"]:
        candidate = stored_vector(Book.objects.get(pk=row["book"]["id"]))
        positive = max(cosine(candidate, stored_vector(book)) for book in liked)
        negative = max(cosine(candidate, stored_vector(book)) for book in disliked)
        expected = positive if positive > negative else -(negative * negative)
        assert row["score"] == pytest.approx(expected, abs=2e-3)
    scores = [row["score"] for row in payload["results"]]
    assert scores == sorted(scores, reverse=True)


def test_filters_options_and_limit_apply(client, catalogue):
    liked = [catalogue["Moby-Dick"].pk]
    payload = recommend(client, liked=liked, filters={"author": "doyle"}, limit=5)
    assert {row["book"]["author"] for row in payload["results"]} == {"Arthur Conan Doyle"}
    payload = recommend(client, liked=liked, filters={"language": "en"}, max_per_author=1, limit=20)
    authors = [row["book"]["author"] for row in payload["results"]]
    assert len(authors) == len(set(authors))
    payload = recommend(client, liked=liked, strategy="best_score", filters={"year_min": 1900}, limit=20)
    assert all(row["book"]["year"] >= 1900 for row in payload["results"])


def test_examples_without_embeddings_are_409_naming_them(client, catalogue):
    pending = Book.objects.create(title="Fresh", summary="Not embedded yet.")
    response = client.post("/api/recommendations/", {"liked": [catalogue["Moby-Dick"].pk, pending.pk]}, format="json")
    assert response.status_code == 409
    assert response.json()["book_ids"] == [pending.pk]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "liked"),
        ({"liked": []}, "liked"),
        ({"liked": "1,2"}, "liked"),
        ({"liked": [0]}, "liked"),
        ({"liked": list(range(1, 52))}, "liked"),
        ({"liked": [1], "disliked": [1]}, "disliked"),
        ({"liked": [1], "strategy": "sum_scores"}, "strategy"),
        ({"liked": [1], "filters": {"colour": "red"}}, "filters"),
        ({"liked": [1], "filters": {"year_min": "soon"}}, "filters"),
        ({"liked": [1], "limit": 1000}, "limit"),
        ({"liked": [1], "likes": [2]}, "likes"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, catalogue, body, field):
    response = client.post("/api/recommendations/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_unknown_books_are_400_naming_the_field_and_ids(client, catalogue):
    known = catalogue["Moby-Dick"].pk
    missing = Book.objects.order_by("-pk").first().pk + 1000
    response = client.post("/api/recommendations/", {"liked": [known], "disliked": [missing]}, format="json")
    assert response.status_code == 400
    assert str(missing) in response.json()["disliked"][0]
    response = client.post("/api/recommendations/", {"liked": [missing]}, format="json")
    assert response.status_code == 400 and str(missing) in response.json()["liked"][0]
