import pytest
from django.core.management import call_command
from django.db import connection

from bookrec import textsearch
from bookrec.models import Book
from tests.sample_books import analyse, create_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    return create_catalogue(embed=False)


def titles(found):
    return [book.title for book, _ in found]


def test_the_generated_column_follows_every_save(catalogue):
    book = catalogue["The Moonstone"]
    book.summary = "A treatise on beekeeping and honey."
    book.save()
    found = textsearch.keyword_ranking(textsearch.text_terms("beekeeping honey"))
    assert titles(found) == ["The Moonstone"]


def test_query_terms_are_stemmed_and_stop_words_dropped(catalogue):
    lexemes = {term.lexeme for term in textsearch.text_terms("The whales and the detectives")}
    assert lexemes == {"whale", "detect"}


def test_rare_terms_weigh_more_than_common_ones(catalogue):
    weights = {term.lexeme: term.weight for term in textsearch.text_terms("voyage galapagos")}
    # "voyage" is in five summaries, "galapagos" in one.
    assert weights["galapago"] > weights["voyag"]


def test_without_statistics_every_term_weighs_the_same(catalogue):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [Book._meta.db_table])
    textsearch.forget_statistics()
    weights = {term.weight for term in textsearch.text_terms("voyage galapagos")}
    assert weights == {1.0}


def test_a_book_sharing_the_rare_term_ranks_first(catalogue):
    found = textsearch.keyword_ranking(textsearch.text_terms("a voyage to the galapagos"))
    assert titles(found)[0] == "The Voyage of the Beagle"
    assert set(titles(found)) >= {"Moby-Dick", "The Sea-Wolf", "Two Years Before the Mast"}
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)


def test_only_books_sharing_a_term_are_found(catalogue):
    assert set(titles(textsearch.keyword_ranking(textsearch.text_terms("detective")))) == {
        "A Study in Scarlet", "The Hound of the Baskervilles", "The Moonstone",
    }
    assert textsearch.keyword_ranking(textsearch.text_terms("the and of")) == []


def test_candidates_limit_and_exclusions_are_honoured(catalogue):
    terms = textsearch.text_terms("detective sherlock holmes murder")
    doyle = Book.objects.filter(author="Arthur Conan Doyle")
    found = textsearch.keyword_ranking(terms, candidates=doyle, limit=1)
    assert len(found) == 1 and found[0][0].author == "Arthur Conan Doyle"
    excluded = catalogue["A Study in Scarlet"].pk
    assert excluded not in [book.pk for book, _ in textsearch.keyword_ranking(terms, exclude_ids=[excluded])]


def test_a_book_is_its_own_best_keyword_match(catalogue):
    book = catalogue["Two Years Before the Mast"]
    found = textsearch.keyword_ranking(textsearch.book_terms(book))
    assert titles(found)[0] == book.title
    assert len(textsearch.book_terms(book)) <= 64


def test_quotes_and_backslashes_in_lexemes_are_safe(catalogue):
    Book.objects.create(title="O'Brien's \\ backslash", summary="An odd title: it's o'brien\\'s book.")
    analyse()
    found = textsearch.keyword_ranking(textsearch.text_terms("o'brien's \\ book"))
    assert "O'Brien's \\ backslash" in titles(found)


def test_rebuilding_with_another_text_search_configuration(catalogue, settings):
    # 'english' drops "the" and stems "whales"; 'simple' keeps both.
    assert textsearch.keyword_ranking(textsearch.text_terms("the")) == []
    settings.BOOKREC = {**settings.BOOKREC, "TEXT_SEARCH_CONFIG": "simple"}
    call_command("rebuild_search_document", verbosity=0)
    analyse()
    assert textsearch.column_configuration() == "simple"
    assert len(textsearch.keyword_ranking(textsearch.text_terms("the"), limit=20)) == len(catalogue)
