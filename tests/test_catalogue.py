"""The import_books command on real files, the real database and the real broker: the
embedding tasks it queues are read back from the test run's own queue."""

import csv
import gzip
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from kombu import Queue

from bookrec import pipeline
from bookrec.conf import bookrec_settings
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for
from tests.books import content_hash, state, status
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

BOOKS = [
    {"id": "pg1", "title": "Pride and Prejudice", "author": "Jane Austen", "language": "en", "year": 1813,
     "subjects": ["Romance", "England -- Fiction"], "summary": "Elizabeth Bennet and Mr Darcy overcome pride."},
    {"id": "pg2", "title": "Moby Dick", "author": "Herman Melville", "language": "en", "year": 1851,
     "subjects": ["Sea stories"], "summary": "Captain Ahab hunts the white whale across the oceans."},
    {"id": "pg3", "title": "红楼梦", "author": "曹雪芹", "language": "zh", "year": 1791,
     "subjects": ["Chinese fiction"], "summary": "贾宝玉与林黛玉的爱情故事，以及贾府由盛而衰的过程。"},
]


def jsonl(records):
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


def write(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def run_import(path, *args):
    """Run the command as a user would (the after-commit queueing included);
    return (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_books", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def queued_batches(purge_queue):
    """Read and remove the book-id batches waiting on the test run's queue."""
    from library_site.celery import app

    def read():
        batches = []
        with app.connection_for_read() as conn:
            queue = Queue(bookrec_settings.CELERY_QUEUE, channel=conn.default_channel)
            while (message := queue.get(no_ack=True)) is not None:
                assert message.headers["task"] == "bookrec.embed"
                args, kwargs, _ = message.decode()
                batches.append(args[1])
        return batches

    return read


@pytest.fixture
def importing(django_capture_on_commit_callbacks):
    """Import with the after-commit callbacks run, as they are outside a test transaction."""

    def run(path, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return run_import(path, *args)

    return run


def test_good_rows_are_imported_and_queued(tmp_path, importing, queued_batches):
    out, err = importing(write(tmp_path / "books.jsonl", jsonl(BOOKS)))

    assert out.strip() == "3 created, 0 updated, 0 unchanged, 0 rejected; 3 queued for embedding."
    assert err == ""
    book = Book.objects.get(external_id="pg1")
    assert (book.title, book.author, book.language, book.year, book.subjects, book.summary) == (
        "Pride and Prejudice", "Jane Austen", "en", 1813, ["Romance", "England -- Fiction"],
        "Elizabeth Bennet and Mr Darcy overcome pride.",
    )
    assert status(book) == EmbeddingStatus.PENDING and content_hash(book)
    assert sorted(sum(queued_batches(), [])) == sorted(Book.objects.values_list("pk", flat=True))


def test_bad_rows_are_reported_with_their_line_and_skipped(tmp_path, importing):
    lines = [
        BOOKS[0],
        '{"id": "x1", "title": "Broken",',
        {"id": "x2", "title": "  ", "summary": "no title"},
        {"id": "x3", "title": "Bad year", "year": "sometime"},
        {"id": "x4", "title": "Bad subjects", "subjects": {"a": 1}},
        {"id": "x5", "title": "Control\x07character"},
        '["not", "an", "object"]',
        {"id": "x8", "title": "Far future", "year": 99999},
        {"id": "pg1", "title": "Pride and Prejudice again"},
        BOOKS[1],
    ]
    # batch size 2: the bad rows sit in the middle of batches and between them
    out, err = importing(write(tmp_path / "books.jsonl", jsonl(lines)), "--batch-size", "2")

    assert out.strip() == "2 created, 0 updated, 0 unchanged, 8 rejected; 2 queued for embedding."
    assert err.splitlines() == [
        "line 2: rejected: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 3: rejected: title: required",
        "line 4: rejected: year: not a whole number: 'sometime'",
        "line 5: rejected: subjects: expected a list of strings or a ';'-separated string",
        "line 6: rejected: title: contains control characters",
        "line 7: rejected: not a JSON object",
        f"line 8: rejected: year: 99999 is not between -3000 and {timezone.localdate().year + 1}",
        "line 9: rejected: external_id 'pg1' repeats line 1",
    ]
    assert sorted(Book.objects.values_list("external_id", flat=True)) == ["pg1", "pg2"]
    assert Book.objects.get(external_id="pg1").title == "Pride and Prejudice"


def test_a_title_too_long_for_the_field_is_shortened_not_rejected(tmp_path, importing):
    long_english = "A military dictionary, or explanation of the several systems of discipline " * 10
    long_chinese = "欽定四庫全書總目" * 80  # no spaces to cut at
    rows = [{"id": "t1", "title": long_english}, {"id": "t2", "title": long_chinese}, BOOKS[0]]
    out, err = importing(write(tmp_path / "books.jsonl", jsonl(rows)))

    assert err == ""
    assert out.splitlines() == [
        "2 titles longer than 500 characters were shortened (lines 1, 2).",
        "3 created, 0 updated, 0 unchanged, 0 rejected; 1 queued for embedding.",
    ]
    for external_id, full in [("t1", long_english), ("t2", long_chinese)]:
        title = Book.objects.get(external_id=external_id).title
        assert len(title) == 500 and title.endswith("…") and full.startswith(title[:-1])


def test_a_repeated_id_is_rejected_in_a_later_batch_too(tmp_path, importing):
    rows = [BOOKS[0], BOOKS[1], BOOKS[2], {**BOOKS[0], "title": "Another title"}]
    out, err = importing(write(tmp_path / "books.jsonl", jsonl(rows)), "--batch-size", "2")
    assert err.strip() == "line 4: rejected: external_id 'pg1' repeats line 1"
    assert Book.objects.get(external_id="pg1").title == "Pride and Prejudice"


def test_non_utf8_bytes_reject_their_line_only(tmp_path, importing):
    good = jsonl(BOOKS[:1]).encode()
    latin1 = '{"id": "l1", "title": "Les Misérables", "summary": "Jean Valjean"}\n'.encode("latin-1")
    out, err = importing(write(tmp_path / "books.jsonl", good + latin1 + jsonl(BOOKS[1:2]).encode()))

    assert err.strip() == "line 2: rejected: title: not valid UTF-8"
    assert sorted(Book.objects.values_list("external_id", flat=True)) == ["pg1", "pg2"]


def test_reimport_upserts_changed_rows_and_leaves_unchanged_ones_alone(tmp_path, importing, queued_batches):
    importing(write(tmp_path / "v1.jsonl", jsonl(BOOKS)))
    pg2 = Book.objects.get(external_id="pg2")
    pipeline.embed_objects(registration_for(Book), [pg2.pk])  # the real local model
    assert status(pg2) == EmbeddingStatus.EMBEDDED
    embedded_hash = state(pg2).embedded_hash
    queued_batches()  # forget the first import's tasks

    v2 = [
        {**BOOKS[0], "summary": "A new summary: the Bennet sisters and their marriages."},  # text changed
        {**BOOKS[1], "year": 1852, "subjects": ["Whaling"]},  # details only
        BOOKS[2],  # unchanged
        {"id": "pg4", "title": "Walden", "author": "Henry David Thoreau", "summary": "Life in the woods."},
    ]
    out, _ = importing(write(tmp_path / "v2.jsonl", jsonl(v2)))

    assert out.strip() == "1 created, 2 updated, 1 unchanged, 0 rejected; 2 queued for embedding."
    pg1, pg4 = Book.objects.get(external_id="pg1"), Book.objects.get(external_id="pg4")
    assert pg1.summary.startswith("A new summary") and status(pg1) == EmbeddingStatus.PENDING
    assert sorted(sum(queued_batches(), [])) == sorted([pg1.pk, pg4.pk])
    kept = Book.objects.get(external_id="pg2")
    assert (kept.year, kept.subjects) == (1852, ["Whaling"])
    assert status(kept) == EmbeddingStatus.EMBEDDED  # a new year keeps the vector
    assert state(kept).embedding is not None and state(kept).embedded_hash == embedded_hash
    assert Book.objects.count() == 4


def test_an_unchanged_catalogue_queues_nothing(tmp_path, importing, queued_batches):
    path = write(tmp_path / "books.jsonl", jsonl(BOOKS))
    importing(path)
    queued_batches()
    updated_at = dict(Book.objects.values_list("external_id", "updated_at"))

    out, _ = importing(path)

    assert out.strip() == "0 created, 0 updated, 3 unchanged, 0 rejected; 0 queued for embedding."
    assert queued_batches() == []
    assert dict(Book.objects.values_list("external_id", "updated_at")) == updated_at


def test_csv_with_subjects_quoted_newlines_and_bad_rows(tmp_path, importing):
    text = (
        "external_id,title,author,summary,language,subjects,year\n"
        'c1,Dracula,Bram Stoker,"A vampire.\nA count in Transylvania.",en,Horror; Gothic fiction,1897\n'
        "c2,Too,many,fields,en,x,1900,extra\n"
        "c3,Short row\n"
        "c4,Frankenstein,Mary Shelley,A creature made of parts.,en,,1818\n"
    )
    out, err = importing(write(tmp_path / "books.csv", text))

    assert out.strip() == "2 created, 0 updated, 0 unchanged, 2 rejected; 2 queued for embedding."
    assert err.splitlines() == [
        "line 4: rejected: more fields than the header has columns",
        "line 5: rejected: fewer fields than the header has columns",
    ]
    dracula = Book.objects.get(external_id="c1")
    assert dracula.summary == "A vampire.\nA count in Transylvania."
    assert (dracula.subjects, dracula.year) == (["Horror", "Gothic fiction"], 1897)
    assert Book.objects.get(external_id="c4").subjects == []


def test_csv_without_a_title_column_imports_nothing(tmp_path, importing):
    out, err = importing(write(tmp_path / "books.csv", "external_id,name\nc1,Dracula\n"))
    assert err.strip() == "line 1: rejected: the header has no title column"
    assert out.strip() == "0 created, 0 updated, 0 unchanged, 1 rejected; 0 queued for embedding."
    assert not Book.objects.exists()


def test_a_csv_with_a_byte_order_mark_keeps_its_title_column(tmp_path, importing):
    """Spreadsheets save "CSV UTF-8" with a byte-order mark before the first column's name."""
    text = "title,author,summary\nÉmile,Rousseau,On education.\n"
    out, err = importing(write(tmp_path / "books.csv", text.encode("utf-8-sig")))
    assert err == ""
    assert list(Book.objects.values_list("title", flat=True)) == ["Émile"]


def test_gzip_compressed_csv_and_jsonl(tmp_path, importing):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["id", "title", "summary"])
    writer.writeheader()
    writer.writerow({"id": "g1", "title": "Emma", "summary": "Emma Woodhouse plays matchmaker."})
    write(tmp_path / "a.csv.gz", gzip.compress(buffer.getvalue().encode()))
    write(tmp_path / "b.jsonl.gz", gzip.compress(jsonl(BOOKS).encode()))

    importing(tmp_path / "a.csv.gz")
    importing(tmp_path / "b.jsonl.gz")

    assert sorted(Book.objects.values_list("external_id", flat=True)) == ["g1", "pg1", "pg2", "pg3"]


def test_limit_imports_the_first_records_only(tmp_path, importing):
    out, _ = importing(write(tmp_path / "books.jsonl", jsonl(BOOKS)), "--limit", "2")
    assert out.strip() == "2 created, 0 updated, 0 unchanged, 0 rejected; 2 queued for embedding."
    assert sorted(Book.objects.values_list("external_id", flat=True)) == ["pg1", "pg2"]


def test_a_bulk_import_queues_one_task_per_batch_not_per_book(tmp_path, settings, importing, queued_batches):
    settings.BOOKREC = {**settings.BOOKREC, "TASK_BATCH_SIZE": 32}
    books = [{"id": f"b{n}", "title": f"Book {n}", "summary": f"Summary number {n}."} for n in range(70)]
    importing(write(tmp_path / "books.jsonl", jsonl(books)), "--batch-size", "50")

    batches = queued_batches()
    # import batches of 50 and 20 books, each queued in tasks of at most 32 books
    assert sorted(map(len, batches)) == [18, 20, 32]
    assert sorted(sum(batches, [])) == sorted(Book.objects.values_list("pk", flat=True))


@pytest.mark.parametrize("name, message", [
    ("missing.jsonl", "No such file or directory"),
    ("books.txt", "books.txt: cannot tell the format from the name"),
])
def test_an_unreadable_catalogue_is_a_clear_error(tmp_path, name, message):
    if name.endswith(".txt"):
        write(tmp_path / name, "title\nx\n")
    with pytest.raises(CommandError, match=message):
        run_import(tmp_path / name)


def test_a_truncated_gzip_file_is_a_clear_error(tmp_path):
    data = gzip.compress(jsonl(BOOKS * 50).encode())
    write(tmp_path / "cut.jsonl.gz", data[: len(data) // 2])
    with pytest.raises(CommandError, match="cut.jsonl.gz"):
        run_import(tmp_path / "cut.jsonl.gz")
    assert not Book.objects.exists()


def test_the_bundled_sample_imports_cleanly_with_english_and_chinese_books(importing):
    out, err = importing(ROOT / "bookrec" / "fixtures" / "sample_catalogue.jsonl")
    assert err == "" and " 0 rejected" in out
    assert {"en", "zh"} <= set(Book.objects.values_list("language", flat=True))
    assert Book.objects.filter(title__startswith="深度学习入门").exists()
