"""bookrec's migrations in a database it shares: unapplying them takes away only what is bookrec's."""

import pytest
from django.core.management import call_command
from django.db import connection

from bookrec import schema
from bookrec.models import Book
from bookrec.registry import registration_for


@pytest.mark.django_db(transaction=True)
def test_migrating_bookrec_to_zero_and_back_leaves_the_shared_vector_extension():
    with connection.cursor() as cursor:  # another app's vectors, depending on the extension
        cursor.execute("CREATE TABLE host_app_vectors (id serial PRIMARY KEY, v vector(3))")
        cursor.execute("INSERT INTO host_app_vectors (v) VALUES ('[1,2,3]')")
    try:
        call_command("migrate", "bookrec", "zero", verbosity=0)
        assert not schema.tables_exist()
        assert schema.pgvector_version() is not None
        with connection.cursor() as cursor:
            cursor.execute("SELECT v::text FROM host_app_vectors")
            assert cursor.fetchone() == ("[1,2,3]",)
    finally:
        call_command("migrate", "bookrec", verbosity=0)  # the tables again, for the tests after this one
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE host_app_vectors")
    assert schema.tables_exist() and schema.pgvector_version() is not None
    assert schema.index_exists(registration_for(Book))  # rebuilt after migrate
