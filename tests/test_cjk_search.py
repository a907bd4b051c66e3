"""Keyword and hybrid search in Chinese, Japanese and Korean, on real text in those scripts."""

import pytest
from django.core.cache import cache

from bookrec import cjk, textsearch
from bookrec.models import Book
from bookrec.registry import registration_for
from tests.sample_books import analyse, client, embed_books, result_titles  # noqa: F401 (fixtures)

BOOKS = [
    # title, author, language, summary
    ("机器学习实战", "Peter Harrington", "zh",
     "通过Python代码实例讲解分类、回归、聚类等机器学习算法，并用真实数据集进行实践。"),
    ("深度学习入门", "斋藤康毅", "zh", "从零开始用Python实现神经网络，讲解误差反向传播法和卷积神经网络。"),
    ("统计学习方法", "李航", "zh", "系统介绍感知机、支持向量机、决策树、隐马尔可夫模型等统计学习的主要方法。"),
    ("川菜家常菜谱", "佚名", "zh", "四川家常菜的做法：麻婆豆腐、回锅肉、鱼香肉丝，讲解火候与调味。"),
    # A Chinese title whose words appear nowhere else: the summary is English.
    ("红楼梦", "Cao Xueqin", "zh",
     "A great family of the Qing dynasty declines; the novel follows the young Jia Baoyu, his cousins "
     "and the household's loves, quarrels and ruin."),
    ("吾輩は猫である", "夏目漱石", "ja", "中学校の英語教師の家に飼われている猫の視点から、人間社会を風刺した小説。"),
    ("한국의 역사", "이기백", "ko", "고조선부터 현대까지 한국의 역사를 정치와 사회의 변화를 중심으로 설명한다."),
    ("The Beak of the Finch", "Jonathan Weiner", "en",
     "Biologists watch Darwin's finches evolve on a Galapagos island, measuring beaks through droughts and floods."),
    ("Pattern Recognition and Machine Learning", "Christopher Bishop", "en",
     "Probability, Bayesian methods, neural networks and kernel machines for classification and regression."),
]

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(openai_settings):
    cache.clear()  # query vectors of earlier tests
    created = {
        title: Book.objects.create(title=title, author=author, language=language, summary=summary)
        for title, author, language, summary in BOOKS
    }
    embed_books([book.pk for book in created.values()])
    analyse()
    yield created
    cache.clear()


def keyword_titles(query):
    found = textsearch.keyword_ranking(registration_for(Book), textsearch.text_terms(query), limit=20)
    return [book.title for book, *_ in found]


def test_cjk_runs_become_bigrams_and_documents_keep_each_character():
    assert cjk.query_text("机器学习实战").split() == ["机器", "器学", "学习", "习实", "实战"]
    assert cjk.document_text("机器学习").split() == ["机器", "器学", "学习", "机", "器", "学", "习"]
    assert cjk.query_text("猫").split() == cjk.document_text("猫").split() == ["猫"]
    # Other scripts are untouched; mixed text is cut where the script changes.
    assert cjk.query_text("Python机器学习 for whales").split() == ["Python", "机器", "器学", "学习", "for", "whales"]
    assert cjk.query_text("한국의 역사").split() == ["한국", "국의", "역사"]
    # Compatibility forms are folded: fullwidth Latin, halfwidth Katakana.
    assert cjk.query_text("ｐｙｔｈｏｎ ﾈｺ") == "python  ネコ "


def test_english_terms_are_still_stemmed_beside_chinese(books):
    lexemes = {term.lexeme for term in textsearch.text_terms("Whales and 机器学习")}
    assert lexemes == {"whale", "机器", "器学", "学习"}


def test_a_chinese_query_finds_the_books_that_contain_it_first(books):
    found = keyword_titles("机器学习")
    assert found[0] == "机器学习实战"
    # Books sharing only part of it (学习) come after; a book sharing none never.
    assert set(found[1:]) == {"深度学习入门", "统计学习方法"}


def test_a_word_found_only_in_a_chinese_title_finds_its_book(books):
    assert keyword_titles("红楼梦") == ["红楼梦"]
    assert keyword_titles("家常菜") == ["川菜家常菜谱"]


def test_japanese_and_korean_queries_find_their_books(books):
    assert keyword_titles("猫") == ["吾輩は猫である"]  # one character
    assert keyword_titles("英語教師") == ["吾輩は猫である"]
    assert keyword_titles("역사") == ["한국의 역사"]


def search_titles(client, query, mode):
    response = client.get("/api/search/", {"q": query, "mode": mode, "limit": 3})
    assert response.status_code == 200, response.content
    return result_titles(response.json())


def test_the_search_api_finds_chinese_books_by_their_words(client, books):
    assert search_titles(client, "机器学习", "keyword")[0] == "机器学习实战"
    # The keyword leg lifts the three Chinese books on the subject above the English one
    # that the small model's vectors alone rank second.
    assert "Pattern Recognition and Machine Learning" in search_titles(client, "机器学习", "vector")[:2]
    assert set(search_titles(client, "机器学习", "hybrid")) == {"机器学习实战", "统计学习方法", "深度学习入门"}


def test_similar_books_in_keyword_mode_match_chinese_summaries(client, books):
    book = books["机器学习实战"]
    response = client.get(f"/api/books/{book.pk}/similar/", {"mode": "keyword", "limit": 3})
    assert response.status_code == 200, response.content
    titles = result_titles(response.json())
    assert set(titles[:2]) == {"深度学习入门", "统计学习方法"}

