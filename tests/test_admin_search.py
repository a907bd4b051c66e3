"""The librarian's view: semantic search on the book list, the mode of the similar-books panel."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from bookrec.models import Book
from tests.processes import free_port
from tests.sample_books import create_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    cache.clear()
    return create_catalogue()


def test_a_semantic_query_on_the_book_list_shows_ranked_books(admin_client, catalogue):
    url = reverse("admin:bookrec_book_changelist")
    response = admin_client.get(url, {"semantic": "recipes for the kitchen", "semantic_mode": "vector"})
    assert response.status_code == 200
    results = response.context["semantic_results"]
    assert {item.object.title for item in results[:2]} == {"The Art of French Cooking", "Modern Cookery for Private Families"}
    page = response.content.decode()
    assert "Books about “recipes for the kitchen” (mode: vector)" in page
    assert 'id="semantic-query"' in page
    # The ordinary list is still there, unfiltered by the semantic parameters.
    assert response.context["cl"].result_count == Book.objects.count()


def test_the_book_list_without_a_semantic_query_is_the_plain_list(admin_client, catalogue):
    response = admin_client.get(reverse("admin:bookrec_book_changelist"))
    assert response.status_code == 200
    assert "semantic_results" not in response.context
    assert 'id="semantic-results"' not in response.content.decode()


def test_semantic_search_with_the_embedder_down_tells_the_librarian(admin_client, catalogue, settings):
    settings.BOOKREC = {
        **settings.BOOKREC, "EMBEDDING_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "EMBEDDING_MODEL": "multilingual-e5-small", "EMBEDDING_DIMENSIONS": 384, "EMBEDDING_MAX_RETRIES": 0,
    }
    response = admin_client.get(reverse("admin:bookrec_book_changelist"), {"semantic": "whales", "semantic_mode": "hybrid"})
    assert response.status_code == 200
    assert any("could not be embedded" in str(m) for m in response.context["messages"])
    # Keyword mode still answers.
    response = admin_client.get(reverse("admin:bookrec_book_changelist"), {"semantic": "whales", "semantic_mode": "keyword"})
    assert "Moby-Dick" in {item.object.title for item in response.context["semantic_results"]}


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_the_similar_panel_shows_and_uses_the_chosen_mode(admin_client, catalogue, mode):
    book = catalogue["The Moonstone"]
    response = admin_client.get(reverse("admin:bookrec_book_change", args=[book.pk]), {"similar_mode": mode})
    assert response.status_code == 200
    assert response.context["similar_mode"] == mode
    assert f"Similar books (mode: {mode})" in response.content.decode()
    titles = [item.object.title for item in response.context["similar_books"]]
    assert book.title not in titles and titles[0] in {"A Study in Scarlet", "The Hound of the Baskervilles"}


def test_the_similar_panel_defaults_to_the_configured_mode(admin_client, catalogue, settings):
    settings.BOOKREC = {**settings.BOOKREC, "SIMILAR_MODE": "keyword"}
    book = catalogue["Typee"]
    response = admin_client.get(reverse("admin:bookrec_book_change", args=[book.pk]), {"similar_mode": "nonsense"})
    assert response.context["similar_mode"] == "keyword"
