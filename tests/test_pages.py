"""The example site's public pages (library_site.views) through Django's test client: the catalogue
with its search box, and each book with the books most like it (SimilarObjectsMixin and the
``{% similar %}`` tag)."""

import re

import pytest
from django.core.cache import cache

from tests.books import make_book
from tests.processes import free_port
from tests.sample_books import catalogue  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def section(html, name):
    """The text of ``<section id="name">``, tags removed."""
    found = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert found, f"no section {name}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_the_root_is_the_book_list(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/books/"


def test_the_book_list_is_public(client, catalogue):
    response = client.get("/books/")
    assert response.status_code == 200
    assert "Moby-Dick" in section(response.content.decode(), "catalogue")
    assert 'id="search-results"' not in response.content.decode()


def test_the_search_box_lists_the_books_about_the_text(client, catalogue):
    response = client.get("/books/", {"q": "a detective investigates a murder"})
    assert response.status_code == 200
    results = section(response.content.decode(), "search-results")
    assert "The Moonstone" in results and "A Study in Scarlet" in results


def test_the_search_box_says_when_search_is_unavailable(client, catalogue, bookrec):
    cache.clear()
    bookrec(EMBEDDING_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", EMBEDDING_MAX_RETRIES=0, EMBEDDING_TIMEOUT=2.0)
    response = client.get("/books/", {"q": "whales"})
    assert response.status_code == 200
    assert "Search is unavailable" in section(response.content.decode(), "search-results")


def test_a_book_page_lists_its_similar_books(client, catalogue):
    book = catalogue["The Hound of the Baskervilles"]
    response = client.get(f"/books/{book.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The Hound of the Baskervilles" in re.search(r"<h1>(.*?)</h1>", html).group(1)
    similar = [item.object.title for item in response.context["similar_objects"]]
    assert len(similar) == 5 and book.title not in similar
    assert set(similar[:2]) == {"A Study in Scarlet", "The Moonstone"}
    shown = section(html, "similar-books")
    assert all(title in shown for title in similar)
    assert "A Study in Scarlet" in section(html, "same-words")  # the template tag, keyword mode


def test_a_pending_books_page_says_there_are_no_similar_books_yet(client, catalogue):
    pending = make_book(title="Whales and whaling", summary="A whaling voyage across the oceans.")
    response = client.get(f"/books/{pending.pk}/")
    assert response.status_code == 200
    assert response.context["similar_objects"] == []
    assert "No similar books yet" in section(response.content.decode(), "similar-books")


def test_a_missing_book_is_not_found(client):
    assert client.get("/books/999999/").status_code == 404
