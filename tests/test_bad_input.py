"""Bad input: each case gets a clear 4xx naming the problem (never a 500) and changes
nothing. See docs/reliability.md for the table of cases."""

import gzip
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from bookrec.models import Book

pytestmark = pytest.mark.django_db

MISSING = 10**6  # an id no book has


@pytest.fixture
def book():
    return Book.objects.create(title="Dune", author="Frank Herbert", summary="Politics and sand.", language="en", year=1965)


@pytest.fixture
def staff():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("librarian", "l@example.org", "pw"))
    return client


def catalogue_state():
    return list(Book.objects.order_by("pk").values())


@pytest.mark.parametrize("path, named", [
    # unknown or malformed query parameters
    ("/api/books/?langauge=en", "langauge"),
    ("/api/books/{id}/?fields=title", "fields"),
    ("/api/books/{id}/similar/?subjet=Fiction", "subjet"),
    ("/api/books/?year_min=abc", "year_min"),
    ("/api/books/?year_min=1965.5", "year_min"),
    ("/api/books/{id}/similar/?year_max=1e30", "year_max"),
    ("/api/books/?author=%00", "author"),
    ("/api/books/?page_size=0", "page_size"),
    ("/api/books/?page_size=1000000000", "page_size"),
    ("/api/books/?page_size=many", "page_size"),
    # limit of 0, negative, 10^9, not a number
    ("/api/books/{id}/similar/?limit=0", "limit"),
    ("/api/books/{id}/similar/?limit=-5", "limit"),
    ("/api/books/{id}/similar/?limit=1000000000", "limit"),
    ("/api/books/{id}/similar/?limit=ten", "limit"),
    # filters with unknown values, or values no column can hold
    ("/api/books/?embedding_status=done", "embedding_status"),
    ("/api/books/?language=" + "x" * 5000, "language"),
    ("/api/books/{id}/similar/?subject=" + "x" * 300, "subject"),
])
def test_bad_query_parameters_get_400_naming_them(client, book, path, named):
    response = client.get(path.format(id=book.pk))
    assert response.status_code == 400, response.content
    assert named in response.json()


@pytest.mark.parametrize("path", [
    "/api/books/abc/", "/api/books/-1/", "/api/books/1.5/similar/",  # not a book id
    f"/api/books/{MISSING}/", f"/api/books/{MISSING}/similar/",  # no such book
    "/api/books/99999999999999999999/",  # beyond bigint
    "/api/books/?page=999", "/api/books/?page=last-but-one",
])
def test_ids_and_pages_that_name_nothing_get_404(client, book, path):
    assert client.get(path).status_code == 404


def test_a_well_formed_filter_value_no_book_has_is_an_empty_page_not_an_error(client, book):
    response = client.get("/api/books/", {"language": "tlh"})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize("body, named", [
    ([], "non_field_errors"),
    ("Dune", "non_field_errors"),
    (42, "non_field_errors"),
    ({"title": "A book"}, "summary"),
    ({"title": "A book", "summary": ""}, "summary"),
    ({"title": "A book", "summary": " \n\t "}, "summary"),
    ({"title": "A book", "summary": "x" * 1_000_000}, "summary"),
    ({"title": "A book", "summary": "bell\x07 and escape\x1b[31m"}, "summary"),
    ({"title": "A book", "summary": "NUL\x00"}, "summary"),
    ({"title": " ", "summary": "About something."}, "title"),
    ({"title": "A book", "summary": "About something.", "year": 10**9}, "year"),
    ({"title": "A book", "summary": "About something.", "subjects": "Fiction"}, "subjects"),
    ({"title": "A book", "summary": "About something.", "external_id": "x" * 300}, "external_id"),
])
def test_bad_book_bodies_get_400_naming_the_field_and_change_nothing(staff, book, body, named):
    before = catalogue_state()
    response = staff.post("/api/books/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert named in response.json()
    if not isinstance(body, dict) or named in body:  # (a PATCH may leave the summary out)
        response = staff.patch(f"/api/books/{book.pk}/", json.dumps(body), content_type="application/json")
        assert response.status_code == 400, response.content
    assert catalogue_state() == before


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b""])
def test_bodies_that_are_not_json_get_400(staff, book, raw):
    before = catalogue_state()
    response = staff.post("/api/books/", raw, content_type="application/json")
    assert response.status_code == 400
    assert catalogue_state() == before


# -- catalogue imports ------------------------------------------------------------------


def run_import(path):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("import_books", str(path), verbosity=0, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_rejects_non_utf8_rows_by_line_and_keeps_the_rest(tmp_path, book):
    before = catalogue_state()
    path = tmp_path / "catalogue.jsonl"
    path.write_bytes(
        b'{"id": "ok-1", "title": "Fine", "summary": "A readable row."}\n'
        b'{"id": "latin-1", "title": "Caf\xe9", "summary": "Written as Latin-1."}\n'
        b'[1, 2]\n'
        b'{"id": "broken"\n'
    )
    out, err = run_import(path)
    assert err.splitlines() == [
        "line 2: rejected: title: not valid UTF-8",
        "line 3: rejected: not a JSON object",
        "line 4: rejected: not valid JSON (Expecting ',' delimiter)",
    ]
    assert "1 created" in out and "3 rejected" in out
    assert catalogue_state()[0] == before[0]
    assert list(Book.objects.exclude(pk=book.pk).values_list("external_id", flat=True)) == ["ok-1"]


def test_import_rejects_csv_rows_with_missing_or_extra_columns(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("id,title,author,summary\na,Whole,Someone,About it\nb,Short,Someone\nc,Long,Someone,About,extra\n")
    out, err = run_import(path)
    assert err.splitlines() == [
        "line 3: rejected: fewer fields than the header has columns",
        "line 4: rejected: more fields than the header has columns",
    ]
    assert list(Book.objects.values_list("external_id", flat=True)) == ["a"]


def test_import_rejects_a_csv_without_a_title_column(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("id,name,summary\na,Whole,About it\n")
    out, err = run_import(path)
    assert err.strip() == "line 1: rejected: the header has no title column"
    assert not Book.objects.exists()


def test_import_reads_a_csv_with_a_byte_order_mark(tmp_path):
    """Spreadsheets save CSV as UTF-8 with a BOM; its header still has a title column."""
    path = tmp_path / "catalogue.csv"
    path.write_bytes("title,author,summary\nÉmile,Rousseau,On education.\n".encode("utf-8-sig"))
    out, err = run_import(path)
    assert err == ""
    assert list(Book.objects.values_list("title", flat=True)) == ["Émile"]


@pytest.mark.parametrize("name, content, message", [
    ("catalogue.txt", b"title\nA\n", "name it .jsonl or .csv"),
    ("catalogue.jsonl.gz", b"not gzip at all", "Not a gzipped file"),
    ("missing.jsonl", None, "No such file"),
])
def test_import_refuses_files_it_cannot_read_with_a_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run_import(path)


def test_import_of_gzip_compressed_jsonl(tmp_path):
    path = tmp_path / "catalogue.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"id": "z", "title": "Zipped", "summary": "Compressed."}\n')
    run_import(path)
    assert list(Book.objects.values_list("external_id", flat=True)) == ["z"]
