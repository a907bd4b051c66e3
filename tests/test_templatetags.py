"""The ``bookrec`` template tags, rendered from template strings on real PostgreSQL: results in the
context, an empty list (never an error) while the data is not ready, and a TemplateSyntaxError for
a mistake in the template."""

import logging

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.template import Context, Template, TemplateSyntaxError

from tests.books import make_book
from tests.processes import free_port
from tests.sample_books import catalogue  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

LISTED = "{% for item in books %}{{ item.object.title }} {{ item.similarity|floatformat:2 }};{% endfor %}"


def render(source, **context):
    return Template("{% load bookrec %}" + source).render(Context(context))


def listed(rendered):
    return [row.rsplit(" ", 1)[0] for row in rendered.split(";") if row]


def test_similar_puts_the_objects_like_this_one_in_the_context(catalogue):
    rendered = render("{% similar book limit=2 as books %}" + LISTED, book=catalogue["A Study in Scarlet"])
    assert set(listed(rendered)) == {"The Hound of the Baskervilles", "The Moonstone"}
    assert all(0 < float(row.rsplit(" ", 1)[1]) <= 1 for row in rendered.split(";") if row)


def test_similar_takes_the_python_apis_options(catalogue):
    rendered = render(
        '{% similar book mode="vector" limit=limit filters=filters as books %}' + LISTED,
        book=catalogue["Moby-Dick"], limit=3, filters={"subject": "Detective fiction"},
    )
    assert set(listed(rendered)) == {"A Study in Scarlet", "The Hound of the Baskervilles", "The Moonstone"}


def test_an_object_without_a_vector_renders_an_empty_list(catalogue, caplog):
    pending = make_book(title="Whales", summary="A whaling voyage.")
    with caplog.at_level(logging.DEBUG, logger="bookrec.views"):
        rendered = render("{% similar book as books %}{% for item in books %}x{% empty %}none{% endfor %}", book=pending)
    assert rendered == "none"
    assert "has no embedding" in caplog.text


def test_a_missing_object_renders_an_empty_list(catalogue):
    assert render("{% similar nothing as books %}{{ books|length }}") == "0"


def test_an_unregistered_model_is_a_template_error():
    user = User.objects.create(username="reader")
    with pytest.raises(TemplateSyntaxError, match="auth.User is not registered with bookrec"):
        render("{% similar user as books %}", user=user)
    with pytest.raises(TemplateSyntaxError, match="auth.Group is not registered with bookrec"):
        render('{% search "ships" model="auth.Group" as found %}')
    with pytest.raises(TemplateSyntaxError, match="auth.Group is not registered with bookrec"):
        render('{% search "" model="auth.Group" as found %}')


def test_a_bad_option_is_a_template_error(catalogue):
    with pytest.raises(TemplateSyntaxError, match="unexpected keyword argument 'colour'"):
        render('{% similar book colour="red" as books %}')
    with pytest.raises(TemplateSyntaxError, match="limit must be"):
        render("{% similar book limit=1000 as books %}", book=catalogue["Moby-Dick"])
    with pytest.raises(TemplateSyntaxError, match="langauge"):
        render("{% similar book filters=filters as books %}", book=catalogue["Moby-Dick"], filters={"langauge": "en"})


def test_search_finds_the_objects_about_a_text(catalogue):
    rendered = render(
        '{% search "a detective investigates a murder" model="bookrec.Book" limit=3 as books %}' + LISTED
    )
    assert set(listed(rendered)) == {"A Study in Scarlet", "The Hound of the Baskervilles", "The Moonstone"}
    assert render('{% search query model="bookrec.Book" as books %}{{ books|length }}', query="  ") == "0"


def test_search_renders_an_empty_list_when_the_text_cannot_be_embedded(catalogue, bookrec, caplog):
    cache.clear()  # no query vector from an earlier test
    bookrec(EMBEDDING_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", EMBEDDING_MAX_RETRIES=0, EMBEDDING_TIMEOUT=2.0)
    with caplog.at_level(logging.WARNING, logger="bookrec.templatetags.bookrec"):
        rendered = render('{% search "whales" model="bookrec.Book" as books %}{{ books|length }}')
    assert rendered == "0"
    assert "No search results shown" in caplog.text
