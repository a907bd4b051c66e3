"""Run inside the throwaway host project (its own virtualenv): ``python probe.py seed|check``.

``seed`` adds the host's books; ``check`` waits until the worker has embedded them, then asks
for recommendations the three ways a site would (Python API, a page with the template tag,
the API) and prints what came back as JSON.
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402  (after django.setup())
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from bookrec import recommend  # noqa: E402
from bookrec.recommendations import NotEmbedded  # noqa: E402
from catalog.models import Book  # noqa: E402

BEFORE_THE_WORKER = [
    ("Deep Learning", "Ian Goodfellow", "Neural networks, backpropagation and training deep models on data."),
    ("The Art of French Cooking", "Julia Child", "Classic French recipes: sauces, soups, roasts and pastry."),
]
AFTER_THE_WORKER = [
    ("Neural Networks from Scratch", "Harrison Kinsley", "Build neural networks by hand: layers, gradients, training loops."),
    ("Modern Cookery", "Eliza Acton", "Recipes for the home kitchen: bread, puddings, soups and sauces."),
    ("A Title Alone", "Nobody", ""),  # no description: REQUIRED, so never embedded
]


def seed(rows):
    for title, author, description in rows:
        Book.objects.create(title=title, author=author, isbn="", description=description)


def wait_until_embedded(books, timeout=240):
    deadline = time.monotonic() + timeout
    while True:
        try:
            for book in books:
                recommend.similar(book, limit=1, mode="vector")
            return
        except NotEmbedded:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def titles(items):
    return [item.object.title for item in items]


def check():
    setup_test_environment()  # the test client's "testserver" host is allowed
    books = {book.title: book for book in Book.objects.all()}
    embeddable = [book for book in books.values() if book.description]
    wait_until_embedded(embeddable)
    deep = books["Deep Learning"]

    similar = recommend.similar(deep, limit=3)
    found = recommend.search(Book, "recipes for sauces", limit=2)

    page = Client().get(f"/books/{deep.pk}/")
    api_path = f"/api/recommendations/models/catalog.book/{deep.pk}/similar/?limit=3"
    anonymous = Client().get(api_path)
    reader = Client()
    reader.force_login(get_user_model().objects.create_user("reader", password="not-used"))
    answered = reader.get(api_path)

    print(json.dumps({
        "django": django.get_version(),
        "similar": titles(similar),
        "similar_types": sorted({type(item.object).__module__ + "." + type(item.object).__name__ for item in similar}),
        "similarities": [item.similarity for item in similar],
        "search": titles(found),
        "page_status": page.status_code,
        "page": page.content.decode(),
        "api_anonymous_status": anonymous.status_code,
        "api_status": answered.status_code,
        "api": answered.json() if answered.status_code == 200 else answered.content.decode(),
        "ids": {title: book.pk for title, book in books.items()},
    }))


if __name__ == "__main__":
    {"seed-before": lambda: seed(BEFORE_THE_WORKER), "seed-after": lambda: seed(AFTER_THE_WORKER), "check": check}[sys.argv[1]]()
