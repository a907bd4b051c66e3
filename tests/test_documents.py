import hashlib

from bookrec.documents import document_hash, document_text, has_embeddable_text
from bookrec.models import Book


def book(**fields):
    return Book(**{"title": "Walden", "author": "Henry David Thoreau", "summary": "Two years by a pond.", **fields})


def test_the_default_document_is_title_author_and_summary():
    assert document_text(book()) == "Walden\nHenry David Thoreau\n\nTwo years by a pond."


def test_the_template_can_use_every_catalogue_field(bookrec):
    bookrec(DOCUMENT_TEMPLATE="{title} ({year}, {language}) [{subjects}]: {summary}")
    text = document_text(book(year=1854, language="en", subjects=["Nature", "Solitude"]))
    assert text == "Walden (1854, en) [Nature, Solitude]: Two years by a pond."


def test_the_document_is_stripped_and_cut_to_the_maximum(bookrec):
    bookrec(EMBEDDING_MAX_CHARS=12)
    assert document_text(book(title="  Walden")) == "Walden\nHenry"


def test_braces_in_a_summary_are_text_not_template():
    assert document_text(book(summary="Sets like {a, b} and {title}.")).endswith("Sets like {a, b} and {title}.")


def test_the_hash_is_the_sha256_of_the_text():
    assert document_hash("Walden") == hashlib.sha256("Walden".encode()).hexdigest()
    assert document_hash("华尔登") != document_hash("Walden")


def test_only_a_summary_makes_a_book_embeddable():
    assert has_embeddable_text(book())
    assert not has_embeddable_text(book(summary=" \n\t"))
    assert not has_embeddable_text(book(summary=None))
