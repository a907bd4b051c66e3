"""How a registered model reads as text (bookrec.registry)."""

import hashlib

import pytest

from bookrec.models import Book
from bookrec.registry import NotRegistered, document_hash, installed_registrations, registered_models, registration_for


def book(**fields):
    return Book(**{"title": "Walden", "author": "Henry David Thoreau", "summary": "Two years by a pond.", **fields})


def register_book(settings, **options):
    settings.BOOKREC = {
        **settings.BOOKREC,
        "MODELS": {"bookrec.Book": {"TEXT": ["title", "author", "summary"], "REQUIRED": ["summary"], **options}},
    }


def test_the_default_document_is_title_author_and_summary():
    assert registration_for(Book).render(book()) == "Walden\nHenry David Thoreau\n\nTwo years by a pond."


def test_the_template_can_use_every_field(settings):
    register_book(settings, TEMPLATE="{title} ({year}, {language}) [{subjects}]: {summary}")
    text = registration_for(Book).render(book(year=1854, language="en", subjects=["Nature", "Solitude"]))
    assert text == "Walden (1854, en) [Nature, Solitude]: Two years by a pond."


def test_without_a_template_the_text_fields_are_joined(settings):
    register_book(settings)
    assert registration_for(Book).render(book()) == "Walden\n\nHenry David Thoreau\n\nTwo years by a pond."


def test_the_document_is_stripped_and_cut_to_the_maximum(bookrec):
    bookrec(EMBEDDING_MAX_CHARS=12)
    assert registration_for(Book).render(book(title="  Walden")) == "Walden\nHenry"


def test_braces_in_a_summary_are_text_not_template():
    text = registration_for(Book).render(book(summary="Sets like {a, b} and {title}."))
    assert text.endswith("Sets like {a, b} and {title}.")


def test_the_hash_is_the_sha256_of_the_text():
    assert document_hash("Walden") == hashlib.sha256("Walden".encode()).hexdigest()
    assert document_hash("华尔登") != document_hash("Walden")


def test_only_a_summary_makes_a_book_embeddable():
    registration = registration_for(Book)
    assert registration.has_text(book())
    assert not registration.has_text(book(summary=" \n\t"))
    assert not registration.has_text(book(summary=None))
    assert registration.content_hash(book(summary="")) == ""


def test_the_text_fields_give_the_full_text_weights_in_order(settings):
    register_book(settings, TEXT=["title", "author", "summary", "language", "year"])
    assert registration_for(Book).weighted_texts(book(language="en", year=1854)) == [
        "Walden", "Henry David Thoreau", "Two years by a pond.", "en\n1854",
    ]


def test_a_model_that_is_not_registered_says_how_to_register_it(settings):
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {}}
    with pytest.raises(NotRegistered, match=r"bookrec.Book is not registered with bookrec: add it to BOOKREC\['MODELS'\]"):
        registration_for(Book)


def test_a_registration_is_found_by_model_instance_or_label():
    registration = registration_for(Book)
    assert registration_for(book()) is registration
    assert registration_for("bookrec.Book") is registration


def test_a_label_that_names_no_installed_model_leaves_the_others_working(settings):
    # "catalog" (no app label) makes Django's get_model raise ValueError, "nothing.Here" LookupError:
    # the system check reports both (bookrec.E010); signals, the sweep and lookups skip them.
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {**settings.BOOKREC.get("MODELS", {}),
                        "bookrec.Book": {"TEXT": ["title", "summary"]}, "catalog": {"TEXT": ["title"]},
                        "nothing.Here": {"TEXT": ["title"]}}}
    assert registration_for(Book).label == "bookrec.Book"
    assert registered_models() == [Book]
    assert [registration.label for registration in installed_registrations()] == ["bookrec.Book"]
