"""A small catalogue with clear neighbourhoods (the sea, detectives, cookery, natural
history), embedded for real through the configured embedder.

Vectors are computed once per test run and model (through ``pipeline.embed_books``, the app's
own path) and written back as they were for later tests, which keeps the suite fast.
"""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from bookrec import pipeline, textsearch
from bookrec.embedders import get_embedder
from bookrec.models import Book, Document
from bookrec.recommendations import current_vectors
from bookrec.registry import registration_for

CATALOGUE = [
    # title, author, language, subjects, year, summary
    ("Moby-Dick", "Herman Melville", "en", ["Adventure", "Sea stories"], 1851,
     "Ishmael sails on the whaling ship Pequod under Captain Ahab, who hunts the white whale "
     "that took his leg; a voyage across the oceans about whales, whaling and obsession."),
    ("Typee", "Herman Melville", "en", ["Adventure", "Travel"], 1846,
     "A sailor deserts his whaling ship in the Marquesas Islands of the South Seas and lives "
     "among the islanders of a hidden valley, fearing they are cannibals."),
    ("The Sea-Wolf", "Jack London", "en", ["Adventure", "Sea stories"], 1904,
     "A literary gentleman rescued at sea is forced to serve aboard a seal-hunting schooner "
     "ruled by the brutal captain Wolf Larsen; a voyage of storms, sailors and survival."),
    ("Two Years Before the Mast", "Richard Henry Dana", "en", ["Travel", "Sea stories"], 1840,
     "A young sailor's memoir of a merchant ship's voyage around Cape Horn to California: "
     "the hard life of the crew, storms, flogging and the sea."),
    ("The Art of French Cooking", "Julia Child", "en", ["Cookery"], 1961,
     "Classic French recipes for the home cook: sauces, soups, roasts, vegetables and pastry, "
     "with careful instructions for every step in the kitchen."),
    ("Modern Cookery for Private Families", "Eliza Acton", "en", ["Cookery"], 1845,
     "An English cookery book of recipes for soups, fish, meat, puddings, preserves and bread, "
     "with exact quantities and cooking times for the household kitchen."),
    ("On the Origin of Species", "Charles Darwin", "en", ["Science", "Natural history"], 1859,
     "Darwin's argument for evolution by natural selection: variation among animals and "
     "plants, the struggle for existence, and the descent of species from common ancestors."),
    ("The Voyage of the Beagle", "Charles Darwin", "en", ["Natural history", "Travel"], 1839,
     "A naturalist's journal of a survey voyage round the world: the geology, animals and "
     "plants of South America and the Galapagos Islands, observed by Darwin."),
    ("A Study in Scarlet", "Arthur Conan Doyle", "en", ["Detective fiction"], 1887,
     "The detective Sherlock Holmes and Doctor Watson meet and investigate a murder in a "
     "London house, a crime whose motive lies in a story of revenge from Utah."),
    ("The Hound of the Baskervilles", "Arthur Conan Doyle", "en", ["Detective fiction"], 1902,
     "Sherlock Holmes investigates the death of Sir Charles Baskerville and the legend of a "
     "spectral hound on the moors of Devon; a detective mystery of murder and inheritance."),
    ("The Moonstone", "Wilkie Collins", "en", ["Detective fiction"], 1868,
     "A sacred Indian diamond is stolen from a country house; Sergeant Cuff, a detective, "
     "and several narrators unravel the mystery of the theft."),
    ("紅樓夢", "Cao Xueqin", "zh", ["Novels"], 1791,
     "A great family of the Qing dynasty declines over many years; the novel follows the "
     "young Jia Baoyu, his cousins and the household's loves, quarrels and ruin."),
]


_vectors = {}  # (model name, content hash) -> vector, for this test run


def create_catalogue(embed=True):
    """Create the catalogue's books (returned by title); embed them unless ``embed`` is False.

    The table is analysed, so keyword ranking has its lexeme statistics.
    """
    books = {}
    for title, author, language, subjects, year, summary in CATALOGUE:
        books[title] = Book.objects.create(
            title=title, author=author, language=language, subjects=subjects, year=year, summary=summary
        )
    if embed:
        embed_books([book.pk for book in books.values()])
    analyse()
    return {title: Book.objects.get(pk=book.pk) for title, book in books.items()}


def embed_books(ids):
    embedder = get_embedder()
    registration = registration_for(Book)
    rows = []
    hashes = dict(
        Document.objects.filter(model_label=registration.model_label, object_id__in=ids)
        .values_list("object_id", "content_hash")
    )
    for pk, digest in hashes.items():
        vector = _vectors.get((embedder.model_name, digest))
        if vector is not None:
            rows.append((pk, digest, vector))
    pipeline.write_vectors(registration, rows, embedder.model_name)
    embedded = current_vectors(registration).filter(object_id__in=ids)
    missing = set(ids) - set(embedded.values_list("object_id", flat=True))
    pipeline.embed_objects(registration, sorted(missing), embedder=embedder)
    for digest, vector in embedded.values_list("embedded_hash", "embedding"):
        _vectors[(embedder.model_name, digest)] = vector


def analyse():
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Document._meta.db_table}")
    textsearch.forget_statistics()


# Fixtures for the test modules that import them.


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def catalogue():
    return create_catalogue()


def result_titles(payload):
    """Titles of an API ranking response, in order."""
    return [row["book"]["title"] for row in payload["results"]]
