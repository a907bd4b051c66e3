import pytest
from django.contrib.auth.models import Permission
from django.test import Client

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


def test_reembed_stale_or_failed_is_a_post(admin_client):
    assert admin_client.get(REEMBED_STALE).status_code == 405


def test_a_user_without_change_permission_cannot_reembed(viewer, catalogue, django_capture_on_commit_callbacks):
    response = viewer.get(CHANGELIST)
    assert listed(response)  # may look
    assert b"Re-embed everything stale or failed" not in response.content
    assert b"reembed_selected" not in response.content
    with django_capture_on_commit_callbacks() as callbacks:
        viewer.post(CHANGELIST, {"action": "reembed_selected", "_selected_action": [catalogue["failed"].pk]})
        assert viewer.post(REEMBED_STALE).status_code == 403
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


def test_bookrecs_own_book_leaves_the_admin_when_a_site_does_not_register_it(admin_client, settings):
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {}}
    index = admin_client.get("/admin/")
    assert index.status_code == 200
    assert CHANGELIST not in index.content.decode()
    assert admin_client.get(CHANGELIST).status_code == 403
    assert admin_client.get("/admin/bookrec/book/add/").status_code == 403
