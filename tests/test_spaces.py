"""Embedding spaces side by side: what ``embedding_space status`` reports of each, and
``embedding_space drop`` freeing an old one (never the active one)."""

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from bookrec import recommend, schema
from bookrec.embedders import get_embedder
from bookrec.models import Book, Embedding
from bookrec.registry import registration_for
from tests.books import at_angle, embedded_book, give_vector, make_book

pytestmark = pytest.mark.django_db
BOOKS = registration_for(Book)


def run(*args):
    out = StringIO()
    call_command("embedding_space", *args, stdout=out)
    return out.getvalue()


def narrow_vector(seed):
    vector = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def two_spaces(settings):
    """Two embedded books and one pending in the active space; the two embedded in a
    128-wide space too (the width the site used before), with that space's own index.
    Returns (books, active space, old space)."""
    books = [embedded_book(at_angle(angle), title=f"Book {angle}") for angle in (0, 10)]
    make_book(title="Not yet embedded")
    active = get_embedder().model_name
    configured = settings.BOOKREC
    settings.BOOKREC = {**configured, "EMBEDDING_DIMENSIONS": 128}
    old = get_embedder().model_name
    for seed, book in enumerate(books):
        give_vector(book, narrow_vector(seed), old)
    schema.build_index(BOOKS)
    settings.BOOKREC = configured
    return books, active, old


def test_status_reports_each_space_the_active_one_first(two_spaces):
    books, active, old = two_spaces
    lines = run("status").splitlines()
    assert lines == [
        f"bookrec.Book  {active}  (active): 66.7% embedded (2 embedded, 1 pending); index built",
        f"bookrec.Book  {old}: 100.0% embedded (2 embedded); index built",
    ]


def test_dropping_an_old_space_frees_its_rows_and_index_and_leaves_the_active_one(two_spaces):
    books, active, old = two_spaces
    assert run("drop", old) == f"bookrec.Book: dropped {old!r} (2 rows, and its index).\n"
    assert not Embedding.objects.filter(space=old).exists() and not schema.index_exists(BOOKS, old)
    assert Embedding.objects.filter(space=active).count() == 3 and schema.index_exists(BOOKS)
    assert [found.object for found in recommend.similar(books[0], mode="vector")] == [books[1]]


def test_the_active_space_and_unknown_ones_are_refused_with_nothing_changed(two_spaces):
    books, active, old = two_spaces
    with pytest.raises(CommandError, match="is the active space: it serves every query. Configure another model first."):
        run("drop", active)
    with pytest.raises(CommandError, match=f"No registered model has a space 'no-such-model'; there are: .*{old}"):
        run("drop", "no-such-model")
    with pytest.raises(CommandError, match="Name the space to drop"):
        run("drop")
    assert Embedding.objects.count() == 5 and schema.index_exists(BOOKS, old)
