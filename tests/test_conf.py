import pytest

from bookrec.conf import DEFAULTS, bookrec_settings
from bookrec.embedders import get_embedder
from bookrec.embedders.local import LocalE5Embedder
from bookrec.embedders.openai import OpenAICompatibleEmbedder


class CustomEmbedder(LocalE5Embedder):
    """Named by dotted path in a test: the EMBEDDER setting imports it."""


def test_every_setting_has_its_default_when_the_site_leaves_it_out(settings):
    settings.BOOKREC = {}
    for name, default in DEFAULTS.items():
        if name != "EMBEDDER":
            assert getattr(bookrec_settings, name) == default, name


def test_the_site_overrides_a_default_and_changes_are_seen_at_once(settings):
    settings.BOOKREC = {"DEFAULT_LIMIT": 7}
    assert bookrec_settings.DEFAULT_LIMIT == 7
    settings.BOOKREC = {"DEFAULT_LIMIT": 3}
    assert bookrec_settings.DEFAULT_LIMIT == 3


def test_an_unknown_setting_is_an_error():
    with pytest.raises(AttributeError, match="MAX_LIMT"):
        bookrec_settings.MAX_LIMT


def test_the_local_model_is_the_embedder_when_no_server_is_configured(settings):
    settings.BOOKREC = {}
    assert bookrec_settings.EMBEDDER is LocalE5Embedder
    assert isinstance(get_embedder(), LocalE5Embedder)
    assert bookrec_settings.dimensions == 384


def test_a_server_url_selects_the_openai_compatible_embedder(settings):
    settings.BOOKREC = {"EMBEDDING_BASE_URL": "http://127.0.0.1:9/v1"}
    assert bookrec_settings.EMBEDDER is OpenAICompatibleEmbedder
    assert isinstance(get_embedder(), OpenAICompatibleEmbedder)
    assert bookrec_settings.dimensions == 1024


def test_the_embedder_is_imported_from_its_dotted_path(settings):
    settings.BOOKREC = {"EMBEDDER": "tests.test_conf.CustomEmbedder"}
    assert bookrec_settings.EMBEDDER is CustomEmbedder
    assert type(get_embedder()) is CustomEmbedder


def test_configured_dimensions_win_over_the_models_own(settings):
    settings.BOOKREC = {"EMBEDDING_BASE_URL": "http://127.0.0.1:9/v1", "EMBEDDING_DIMENSIONS": 256}
    assert bookrec_settings.dimensions == 256
    assert get_embedder().model_name == "Qwen/Qwen3-Embedding-0.6B@256"


def test_the_embedder_is_built_once_until_the_settings_change(settings):
    settings.BOOKREC = {}
    first = get_embedder()
    assert get_embedder() is first
    settings.BOOKREC = {"EMBEDDING_MAX_CHARS": 10}
    assert get_embedder() is not first
    assert get_embedder().max_chars == 10
