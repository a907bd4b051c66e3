import django
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from bookrec.models import Book, EmbeddingStatus
from bookrec.embedders import get_embedder
from tests.books import at_angle, embedded_book, make_book, set_state, status

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/bookrec/book/"
REEMBED_STALE = "/admin/bookrec/book/reembed-stale/"


@pytest.fixture
def viewer(django_user_model):
    """A staff user who may look at books but not change them."""
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_book"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def catalogue():
    books = {
        "query": embedded_book(at_angle(0), title="Machine Minds", author="Ann Query", language="en", subjects=["AI"]),
        "near": embedded_book(at_angle(10), title="Thinking Machines", author="Bo Near", language="en", subjects=["AI"]),
        "far": embedded_book(at_angle(60), title="Le Pain", author="Cy Far", language="fr", subjects=["Cooking"]),
        "stale": embedded_book(at_angle(20), model_name="old-model", title="Stale Story", language="en"),
        "pending": make_book(title="Pending Poems", language="en", subjects=["Poetry"]),
        "failed": make_book(title="Failed Fables", language="en"),
    }
    set_state(books["failed"], status=EmbeddingStatus.FAILED, error="HTTP 400: too long")
    return books


def listed(response):
    assert response.status_code == 200
    return {book.title for book in response.context["cl"].result_list}


def messages(response):
    return [str(m) for m in response.context["messages"]]


def test_the_list_shows_status_and_model(admin_client, catalogue):
    response = admin_client.get(CHANGELIST)
    assert listed(response) == {b.title for b in catalogue.values()}
    content = response.content.decode()
    assert "Embedded" in content and "Pending" in content and "Failed" in content
    assert get_embedder().model_name in content and "old-model" in content


@pytest.mark.parametrize("params, titles", [
    ({"embedding_status": "failed"}, {"Failed Fables"}),
    ({"embedding_status": "pending"}, {"Pending Poems", "Stale Story"}),
    ({"language__exact": "fr"}, {"Le Pain"}),
    ({"subject": "AI"}, {"Machine Minds", "Thinking Machines"}),
    ({"q": "machine"}, {"Machine Minds", "Thinking Machines"}),
    ({"q": "Cy Far"}, {"Le Pain"}),
])
def test_the_list_filters_and_searches(admin_client, catalogue, params, titles):
    assert listed(admin_client.get(CHANGELIST, params)) == titles


def test_the_subject_filter_offers_the_subjects_with_their_counts(admin_client, catalogue):
    content = admin_client.get(CHANGELIST).content.decode()
    assert "AI (2)" in content and "Cooking (1)" in content and "Poetry (1)" in content


@pytest.mark.skipif(django.VERSION < (5, 0), reason="Django's own counts (facets) came with 5.0")
def test_with_djangos_counts_shown_each_subject_has_one_count(admin_client, catalogue):
    content = admin_client.get(CHANGELIST, {"_facets": "True"}).content.decode()
    assert "AI (2)" in content and "AI (2) (" not in content and "Cooking (1)" in content


def test_reembed_selected_queues_them_and_says_how_many(admin_client, catalogue, django_capture_on_commit_callbacks):
    selected = [catalogue["failed"].pk, catalogue["stale"].pk, catalogue["query"].pk]
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            CHANGELIST, {"action": "reembed_selected", "_selected_action": selected}, follow=True
        )
    assert "Queued 3 books for embedding." in messages(response)
    assert len(callbacks) == 1
    assert status(catalogue["failed"]) == EmbeddingStatus.PENDING


def test_reembed_stale_or_failed_queues_them_and_says_how_many(admin_client, catalogue, django_capture_on_commit_callbacks):
    assert b"Re-embed everything stale or failed" in admin_client.get(CHANGELIST).content
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(REEMBED_STALE, follow=True)
    assert response.redirect_chain == [(CHANGELIST, 302)]
    # pending + failed + embedded by another model
    assert "Queued 3 stale or failed books for embedding." in messages(response)
    assert len(callbacks) == 1


def test_reembed_stale_or_failed_says_how_many_and_asks_first(admin_client, catalogue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        page = admin_client.get(REEMBED_STALE)
    assert page.status_code == 200 and callbacks == []  # nothing queued by looking
    content = page.content.decode()
    # pending + failed + embedded by another model, as the POST queues them
    assert "3 books are pending, failed, or embedded by another model" in content
    assert 'value="Yes, re-embed 3 books"' in content and 'method="post"' in content
    assert admin_client.put(REEMBED_STALE).status_code == 405


def test_with_nothing_stale_the_page_says_so(admin_client):
    embedded_book(at_angle(0), title="Up to date")
    content = admin_client.get(REEMBED_STALE).content.decode()
    assert "there is nothing to re-embed" in content and "Yes, re-embed" not in content


def test_reembedding_selected_books_is_in_each_ones_history(admin_client, catalogue):
    selected = [catalogue["failed"].pk, catalogue["query"].pk]
    admin_client.post(CHANGELIST, {"action": "reembed_selected", "_selected_action": selected})
    for pk in selected:
        history = admin_client.get(f"/admin/bookrec/book/{pk}/history/").content.decode()
        assert "Queued for re-embedding." in history
    assert "Queued for re-embedding." not in admin_client.get(f"/admin/bookrec/book/{catalogue['far'].pk}/history/").content.decode()


def test_a_user_without_change_permission_cannot_reembed(viewer, catalogue, django_capture_on_commit_callbacks):
    response = viewer.get(CHANGELIST)
    assert listed(response)  # may look
    assert b"Re-embed everything stale or failed" not in response.content
    assert b"reembed_selected" not in response.content
    with django_capture_on_commit_callbacks() as callbacks:
        viewer.post(CHANGELIST, {"action": "reembed_selected", "_selected_action": [catalogue["failed"].pk]})
        assert viewer.post(REEMBED_STALE).status_code == 403
        assert viewer.get(REEMBED_STALE).status_code == 403
    assert callbacks == []
    assert status(catalogue["failed"]) == EmbeddingStatus.FAILED


def test_a_books_page_shows_its_similar_books_with_their_similarity(admin_client, catalogue):
    # The vector mode: only embedded books, each with its similarity (hybrid adds keyword matches).
    response = admin_client.get(f"/admin/bookrec/book/{catalogue['query'].pk}/change/", {"similar_mode": "vector"})
    assert response.status_code == 200
    similar = response.context["similar_books"]
    assert [r.object.title for r in similar] == ["Thinking Machines", "Le Pain"]
    content = response.content.decode()
    assert 'id="similar-books"' in content
    assert "0.985" in content and "0.500" in content
    assert content.index("Thinking Machines") < content.index("Le Pain", content.index('id="similar-books"'))


def test_a_pending_books_page_says_why_there_are_no_similar_books(admin_client, catalogue):
    response = admin_client.get(f"/admin/bookrec/book/{catalogue['pending'].pk}/change/")
    assert response.status_code == 200
    assert "has no embedding from the current model yet (status: pending)" in response.content.decode()


def test_a_skipped_books_page_says_it_needs_text_not_time(admin_client):
    book = make_book(title="A title alone", summary="")
    content = admin_client.get(f"/admin/bookrec/book/{book.pk}/change/").content.decode()
    assert "has no text to embed (status: skipped): it is embedded once its text is filled in." in content


EMBEDDING_MESSAGES = {
    "queued": "Its text is queued for embedding: the embedding status says when it is done.",
    "no text": "It has no text to embed, so it is left out of recommendations until it has.",
}


def book_form(**fields):
    return {"title": "The Garden", "author": "", "summary": "", "language": "en", "subjects": "", "year": "",
            "external_id": "", **fields}


@pytest.mark.parametrize("summary, said", [("About gardens, and the people who keep them.", "queued"), ("", "no text")])
def test_saving_says_what_becomes_of_the_embedding(admin_client, summary, said):
    response = admin_client.post("/admin/bookrec/book/add/", book_form(summary=summary), follow=True)
    assert response.status_code == 200
    assert [m for m in messages(response) if m in EMBEDDING_MESSAGES.values()] == [EMBEDDING_MESSAGES[said]]


def test_saving_an_embedded_book_without_changing_its_text_says_nothing_of_it(admin_client, catalogue):
    book = catalogue["query"]
    form = book_form(title=book.title, author=book.author, summary=book.summary, subjects="AI")
    response = admin_client.post(f"/admin/bookrec/book/{book.pk}/change/", form, follow=True)
    assert response.status_code == 200 and status(book) == EmbeddingStatus.EMBEDDED
    assert not set(messages(response)) & set(EMBEDDING_MESSAGES.values())


def test_subjects_are_one_per_line_so_a_heading_may_hold_commas(admin_client):
    subjects = "Science fiction, American\r\nHistory; Poetry\r\n\r\n  Short stories  \r\n"
    admin_client.post("/admin/bookrec/book/add/", book_form(summary="About the future.", subjects=subjects))
    book = Book.objects.get(title="The Garden")
    assert book.subjects == ["Science fiction, American", "History; Poetry", "Short stories"]
    page = admin_client.get(f"/admin/bookrec/book/{book.pk}/change/").content.decode()
    assert "Science fiction, American\nHistory; Poetry\nShort stories</textarea>" in page


def test_a_value_too_long_is_an_error_the_browser_does_not_cut_it_short(admin_client):
    form = admin_client.get("/admin/bookrec/book/add/").content.decode()
    assert 'name="language"' in form and "maxlength" not in form
    response = admin_client.post("/admin/bookrec/book/add/", book_form(summary="About it.", language="English (United Kingdom)"))
    assert response.status_code == 200 and not Book.objects.filter(title="The Garden").exists()
    assert response.context["adminform"].form.errors["language"] == ["Ensure this value has at most 16 characters (it has 24)."]


@pytest.mark.parametrize("year, errors", [
    ("-750", None),  # before the common era
    ("3000", ["Ensure this value is less than or equal to {next_year}."]),
    ("99999", ["Ensure this value is less than or equal to {next_year}."]),  # one error, not the column's too
    ("-5000", ["Ensure this value is greater than or equal to -3000."]),
])
def test_a_year_is_one_a_book_can_have(admin_client, year, errors):
    response = admin_client.post("/admin/bookrec/book/add/", book_form(summary="About it.", year=year))
    if errors is None:
        assert response.status_code == 302 and Book.objects.get(title="The Garden").year == int(year)
    else:
        next_year = timezone.localdate().year + 1
        assert response.context["adminform"].form.errors["year"] == [e.format(next_year=next_year) for e in errors]


def test_view_site_opens_the_sites_book_pages_not_the_api_docs(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert '<a href="/">View site</a>' in index
    assert admin_client.get("/").headers["Location"] == "/books/"


def test_bookrecs_own_book_leaves_the_admin_when_a_site_does_not_register_it(admin_client, settings):
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {}}
    index = admin_client.get("/admin/")
    assert index.status_code == 200
    assert CHANGELIST not in index.content.decode()
    assert admin_client.get(CHANGELIST).status_code == 403
    assert admin_client.get("/admin/bookrec/book/add/").status_code == 403
