"""Vectors stay in the table row (STORAGE MAIN), so the planner sees their real cost and
uses the HNSW index (see migrations 0002 and 0004)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_vector_column_keeps_vectors_in_the_row():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'bookrec_embedding'::regclass AND attname = 'embedding'"
        )
        assert cursor.fetchone()[0] == "m"
