"""Vectors stay in the table row (STORAGE MAIN), so the planner sees their real cost and
uses the HNSW index (see migration 0002)."""

import pytest

from bookrec import schema
from bookrec.conf import bookrec_settings

pytestmark = pytest.mark.django_db


def test_the_migrated_column_keeps_vectors_in_the_row():
    assert schema.column_storage() == "m"


def test_resizing_the_column_keeps_vectors_in_the_row():
    schema.resize_column(bookrec_settings.dimensions + 8)

    assert schema.column_dimensions() == bookrec_settings.dimensions + 8
    assert schema.column_storage() == "m"
