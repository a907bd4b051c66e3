import pytest
from django.core.management import call_command

from bookrec.checks import check_database, check_registered_models, check_settings
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for
from bookrec.schema import index_exists, pgvector_version
from tests.books import direction, embedded_book, make_book, state, status

pytestmark = pytest.mark.django_db


def test_no_warning_when_every_registered_model_has_its_index():
    assert index_exists(registration_for(Book))
    assert check_database(None) == []


def test_a_warning_when_the_current_space_has_no_index(bookrec):
    bookrec(EMBEDDING_DIMENSIONS=128)  # another space, whose index was never built
    (warning,) = check_database(None)
    assert warning.id == "bookrec.W001" and "bookrec.Book has no vector index" in warning.msg
    assert "vector_index build" in warning.hint


def test_the_installed_pgvector_is_new_enough():
    major, minor = (int(part) for part in pgvector_version().split(".")[:2])
    assert (major, minor) >= (0, 8)


def register(settings, label, **options):
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {label: options}}
    return [(error.id, error.msg) for error in check_registered_models(None)]


def test_the_default_registration_is_valid():
    assert check_registered_models(None) == []


@pytest.mark.parametrize("label, options, error_id, words", [
    ("catalog.Book", {"TEXT": ["title"]}, "bookrec.E010", "'catalog.Book', which is not an installed model"),
    ("catalog", {"TEXT": ["title"]}, "bookrec.E010", "'catalog', which is not an installed model"),
    ("bookrec.Book", {"TEXT": ["title"], "FILTER": ["year"]}, "bookrec.E011", "unknown key 'FILTER'"),
    ("auth.Permission", {"TEXT": ["name"]}, None, None),
    ("bookrec.Book", {}, "bookrec.E013", "has no TEXT"),
    ("bookrec.Book", {"TEXT": ["title", "blurb"]}, "bookrec.E014", "['TEXT'] names 'blurb'"),
    ("bookrec.Book", {"TEXT": ["title"], "TEMPLATE": "{title} {isbn}"}, "bookrec.E014", "['TEMPLATE'] names 'isbn'"),
    ("bookrec.Book", {"TEXT": ["title"], "REQUIRED": ["abstract"]}, "bookrec.E014", "['REQUIRED'] names 'abstract'"),
    ("bookrec.Book", {"TEXT": ["title"], "SUBJECTS": "tags"}, "bookrec.E014", "['SUBJECTS'] names 'tags'"),
    ("bookrec.Book", {"TEXT": ["title"], "FILTERS": {"publisher": ["exact"]}}, "bookrec.E015", "publisher"),
])
def test_a_registration_that_does_not_fit_its_model_is_an_error_naming_the_field(settings, label, options, error_id, words):
    errors = register(settings, label, **options)
    if error_id is None:
        assert errors == []
    else:
        assert any(found == error_id and words in message for found, message in errors), errors


def test_a_non_integer_primary_key_is_an_error(settings):
    errors = register(settings, "contenttypes.ContentType", TEXT=["model"])
    assert errors == []  # an AutoField
    settings.BOOKREC = {**settings.BOOKREC, "MODELS": {"sessions.Session": {"TEXT": ["session_data"]}}}
    assert [error.id for error in check_registered_models(None)] == ["bookrec.E012"]


def test_a_new_width_needs_no_column_change_only_embedding(bookrec):
    embedded = embedded_book(direction(1), title="Embedded")
    pending = make_book(title="Pending")
    skipped = make_book(title="Skipped", summary="")
    embedder = bookrec(EMBEDDING_DIMENSIONS=128)
    call_command("embed", verbosity=0)
    for book in (embedded, pending):
        assert status(book) == EmbeddingStatus.EMBEDDED
        assert state(book).space == embedder.model_name and embedder.model_name.endswith("@128")
        assert len(state(book).embedding) == 128
    assert status(skipped) == EmbeddingStatus.SKIPPED


# -- the BOOKREC dict itself -------------------------------------------------------------


def settings_errors(settings, **overrides):
    settings.BOOKREC = {**settings.BOOKREC, **overrides}
    return [(error.id, error.msg, error.hint) for error in check_settings(None)]


def test_the_sites_settings_are_valid():
    assert check_settings(None) == []


def test_a_misspelt_key_is_an_error_naming_it_with_the_key_meant(settings):
    ((error_id, message, hint),) = settings_errors(settings, EMBEDING_BASE_URL="http://sglang:30000/v1")
    assert error_id == "bookrec.E003" and "'EMBEDING_BASE_URL'" in message
    assert hint == "Did you mean 'EMBEDDING_BASE_URL'?"


def test_an_unknown_key_like_no_other_is_an_error_too(settings):
    ((error_id, message, hint),) = settings_errors(settings, COLOUR="blue")
    assert error_id == "bookrec.E003" and "'COLOUR'" in message and "Did you mean" not in hint


def test_dotted_paths_that_cannot_be_imported_are_errors(settings):
    errors = settings_errors(settings, API_PERMISSION_CLASSES=["rest_framework.permissions.IsAuthenticatd"])
    assert [(error_id, "'API_PERMISSION_CLASSES'" in message) for error_id, message, _ in errors] == [("bookrec.E005", True)]


@pytest.mark.parametrize("dimensions, errors", [(4000, []), (4096, ["bookrec.E004"])])
def test_a_width_the_vector_index_cannot_hold_is_an_error(settings, dimensions, errors):
    assert [error_id for error_id, _, _ in settings_errors(settings, EMBEDDING_DIMENSIONS=dimensions)] == errors


@pytest.mark.parametrize("serializer, words", [
    ("bookrec.api.serializers.BookSummarySerializer", None),
    ("bookrec.api.serializers.NoSuchSerializer", "cannot be imported"),
    ("bookrec.api.serializers.no_control_characters", "not a serializer class"),
    ("bookrec.api.serializers.NotEmbeddedSerializer", None),  # a plain Serializer: any model
])
def test_a_registrations_serializer_must_be_one_of_its_model(settings, serializer, words):
    errors = register(settings, "bookrec.Book", TEXT=["title"], SERIALIZER=serializer)
    if words is None:
        assert errors == []
    else:
        assert [(error_id, words in message) for error_id, message in errors] == [("bookrec.E016", True)]


def test_a_model_serializer_of_another_model_is_an_error(settings):
    errors = register(settings, "auth.Permission", TEXT=["name"], SERIALIZER="bookrec.api.serializers.BookSummarySerializer")
    assert errors == [("bookrec.E016", "BOOKREC['MODELS']['auth.Permission']['SERIALIZER'] serializes bookrec.Book, not auth.Permission.")]
