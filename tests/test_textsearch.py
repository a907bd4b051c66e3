import pytest
from django.core.management import call_command
from django.db import connection

from bookrec import textsearch
from bookrec.models import Book, Document
from bookrec.registry import registration_for
from tests.sample_books import analyse, create_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    return create_catalogue(embed=False)


BOOKS = registration_for(Book)


def keyword_ranking(terms, **kwargs):
    return textsearch.keyword_ranking(BOOKS, terms, **kwargs)


def titles(found):
    return [book.title for book, *_ in found]


def test_the_full_text_document_follows_every_save(catalogue):
    book = catalogue["The Moonstone"]
    book.summary = "A treatise on beekeeping and honey."
    book.save()
    found = keyword_ranking(textsearch.text_terms("beekeeping honey"))
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
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [Document._meta.db_table])
    textsearch.forget_statistics()
    weights = {term.weight for term in textsearch.text_terms("voyage galapagos")}
    assert len(weights) == 1


def test_a_book_that_says_a_term_more_often_ranks_higher(catalogue):
    # The same four distinct terms; the second book says "narwhal" three times. Created
    # first, the other would win a tie.
    once = Book.objects.create(title="Once", summary="A narwhal, a glacier, a kayak and a harpoon.")
    thrice = Book.objects.create(title="Thrice", summary="A narwhal, a narwhal, a narwhal: a glacier, a kayak, a harpoon.")
    analyse()
    found = keyword_ranking(textsearch.text_terms("narwhal"))
    assert [book.pk for book, *_ in found] == [thrice.pk, once.pk]


def test_a_book_sharing_the_rare_term_ranks_first(catalogue):
    found = keyword_ranking(textsearch.text_terms("a voyage to the galapagos"))
    assert titles(found)[0] == "The Voyage of the Beagle"
    assert set(titles(found)) >= {"Moby-Dick", "The Sea-Wolf", "Two Years Before the Mast"}
    scores = [match.score for match in found]
    assert scores == sorted(scores, reverse=True)


def test_only_books_sharing_a_term_are_found(catalogue):
    assert set(titles(keyword_ranking(textsearch.text_terms("detective")))) == {
        "A Study in Scarlet", "The Hound of the Baskervilles", "The Moonstone",
    }
    assert keyword_ranking(textsearch.text_terms("the and of")) == []


def test_candidates_limit_and_exclusions_are_honoured(catalogue):
    terms = textsearch.text_terms("detective sherlock holmes murder")
    doyle = Book.objects.filter(author="Arthur Conan Doyle")
    found = keyword_ranking(terms, candidates=doyle, limit=1)
    assert len(found) == 1 and found[0][0].author == "Arthur Conan Doyle"
    excluded = catalogue["A Study in Scarlet"].pk
    assert excluded not in [book.pk for book, *_ in keyword_ranking(terms, exclude_ids=[excluded])]


def test_a_book_is_its_own_best_keyword_match(catalogue):
    book = catalogue["Two Years Before the Mast"]
    found = keyword_ranking(textsearch.object_terms(BOOKS, book))
    assert titles(found)[0] == book.title
    assert len(textsearch.object_terms(BOOKS, book)) <= 64


def test_quotes_and_backslashes_in_lexemes_are_safe(catalogue):
    Book.objects.create(title="O'Brien's \\ backslash", summary="An odd title: it's o'brien\\'s book.")
    analyse()
    found = keyword_ranking(textsearch.text_terms("o'brien's \\ book"))
    assert "O'Brien's \\ backslash" in titles(found)


def test_rebuilding_with_another_text_search_configuration(catalogue, settings):
    # 'english' drops "the" and stems "whales"; 'simple' keeps both.
    assert keyword_ranking(textsearch.text_terms("the")) == []
    settings.BOOKREC = {**settings.BOOKREC, "TEXT_SEARCH_CONFIG": "simple"}
    call_command("rebuild_search_document", verbosity=0)
    analyse()
    assert len(keyword_ranking(textsearch.text_terms("the"), limit=20)) == len(catalogue)


# -- bounded work (KEYWORD_MATCH_BUDGET) ------------------------------------------------------


def term(lexeme, books):
    return textsearch.Term(lexeme, 1.0, books)


def test_retrieval_takes_the_rarest_terms_that_fit_the_budget():
    terms = [term("common", 900.0), term("rare", 3.0), term("middling", 60.0), term("rarer", 1.0)]
    assert {t.lexeme for t in textsearch.retrieval_terms(terms, 70)} == {"rarer", "rare", "middling"}
    assert {t.lexeme for t in textsearch.retrieval_terms(terms, 10)} == {"rarer", "rare"}
    # The rarest term is always looked up, even when it alone is over the budget.
    assert {t.lexeme for t in textsearch.retrieval_terms([term("common", 900.0)], 10)} == {"common"}
    assert set(textsearch.retrieval_terms(terms, None)) == set(terms)


def test_terms_without_an_estimate_are_all_looked_up():
    terms = [term("unknown", None), term("common", 900.0), term("rare", 3.0)]
    assert {t.lexeme for t in textsearch.retrieval_terms(terms, 10)} == {"unknown", "rare"}


def books_with(lexeme):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bookrec_document WHERE search_document @@ %s::tsquery", [lexeme])
        return cursor.fetchone()[0]


def test_terms_carry_their_estimated_number_of_books(catalogue):
    books = {t.lexeme: t.books for t in textsearch.text_terms("voyage galapagos")}
    # ANALYZE saw every row of this small table: the estimates are the counts.
    assert books_with("voyag") > books_with("galapago") == 1
    assert books["voyag"] == pytest.approx(books_with("voyag"), abs=0.5)
    assert books["galapago"] == pytest.approx(1, abs=0.5)


def test_a_budget_finds_books_by_their_rare_terms_and_scores_them_with_all(catalogue):
    terms = textsearch.text_terms("a voyage to the galapagos")
    unbounded = {match.object: match.score for match in keyword_ranking(terms, budget=None)}
    bounded = keyword_ranking(terms, budget=2)
    # Only "galapagos" fits the budget: the books sharing only "voyage" are not read ...
    assert titles(bounded) == ["The Voyage of the Beagle"]
    assert len(unbounded) > 1
    # ... and the one found scores as it does unbounded (its "voyage" counted too).
    book, score, _ = bounded[0]
    assert score == pytest.approx(unbounded[book])


def test_each_lookup_is_capped_at_the_budget_even_without_statistics(catalogue):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [Document._meta.db_table])
    textsearch.forget_statistics()
    terms = textsearch.text_terms("voyage")
    assert terms[0].books is None
    assert len(keyword_ranking(terms, budget=None)) == books_with("voyag") > 2
    assert len(keyword_ranking(terms, budget=2)) == 2


def test_the_default_budget_is_the_setting(catalogue, settings):
    terms = textsearch.text_terms("a voyage to the galapagos")
    assert len(keyword_ranking(terms)) > 1
    settings.BOOKREC = {**settings.BOOKREC, "KEYWORD_MATCH_BUDGET": 2}
    assert titles(keyword_ranking(terms)) == ["The Voyage of the Beagle"]


def test_filtered_candidates_are_looked_up_within_the_budget(catalogue):
    # Several books share "voyage"; among Darwin's books only one does, and a budget of one
    # lookup row must find it rather than spend itself on books the filter drops.
    terms = textsearch.text_terms("voyage")
    darwin = Book.objects.filter(author="Charles Darwin")
    assert titles(keyword_ranking(terms, candidates=darwin, budget=1)) == ["The Voyage of the Beagle"]


def test_when_every_book_found_is_rescored_the_answer_is_the_exact_one(catalogue):
    # Every term fits the budget, and 10 x limit covers the twelve books: nothing is cut.
    terms = textsearch.text_terms("a voyage round the world to the galapagos islands")
    exact = keyword_ranking(terms, budget=None, limit=5)
    assert textsearch.retrieval_terms(terms, 10_000) == set(terms)
    for limit in (2, 3, 5):
        assert keyword_ranking(terms, budget=10_000, limit=limit) == exact[:limit]
