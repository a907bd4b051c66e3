"""Importing a catalogue: JSON Lines or CSV, upserted on the external id, in batches.

A bad row is reported with its line number and skipped; it never aborts the rows before
it or leaves a half-written book. Unchanged books are left alone (no embedding queued).
"""

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import Truncator

from bookrec import indexing, tasks
from bookrec.models import Book
from bookrec.registry import registration_for

MAX_SUMMARY_CHARS = 50_000
CATALOGUE_FIELDS = ["title", "author", "summary", "language", "subjects", "year"]
# PostgreSQL cannot store NUL; other control characters are never meant in a catalogue.
CONTROL_CHARACTER_RANGES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
CONTROL_CHARACTERS = re.compile(f"[{CONTROL_CHARACTER_RANGES}]")
CSV_REQUIRED_COLUMNS = {"title"}
TITLE_MAX_LENGTH = Book._meta.get_field("title").max_length


class RowError(ValueError):
    pass


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    queued: int = 0
    rejected: list = field(default_factory=list)  # (line number, reason)
    shortened: list = field(default_factory=list)  # line numbers of titles cut to fit

    @property
    def seen(self):
        return self.created + self.updated + self.unchanged + len(self.rejected)


def open_text(path):
    """Open a file (gzip-compressed or not) as text; undecodable bytes are kept
    as surrogates so the row they are in can be rejected on its own. A byte-order
    mark (spreadsheets write one before CSV) is not part of the first column's name."""
    path = Path(path)
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


def catalogue_format(path):
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise ValueError("cannot tell the format from the name: use .jsonl or .csv (optionally .gz)")


def read_rows(path):
    """Yield ``(line number, dict or RowError)`` for every record in the file."""
    with open_text(path) as handle:
        if catalogue_format(path) == "jsonl":
            yield from _jsonl_rows(handle)
        else:
            yield from _csv_rows(handle)


def _jsonl_rows(handle):
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(f"not valid JSON ({exc.msg})")
            continue
        yield number, record if isinstance(record, dict) else RowError("not a JSON object")


def _csv_rows(handle):
    reader = csv.DictReader(handle)
    missing = CSV_REQUIRED_COLUMNS - set(reader.fieldnames or [])
    if missing:
        yield 1, RowError(f"the header has no {', '.join(sorted(missing))} column")
        return
    for record in reader:
        number = reader.line_num
        if None in record:
            yield number, RowError("more fields than the header has columns")
        elif any(value is None for value in record.values()):
            yield number, RowError("fewer fields than the header has columns")
        else:
            yield number, record


def clean_text(record, name, *, max_length, required=False):
    value = record.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RowError(f"{name}: expected text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{name}: not valid UTF-8") from None
    if CONTROL_CHARACTERS.search(value):
        raise RowError(f"{name}: contains control characters")
    value = value.strip()
    if required and not value:
        raise RowError(f"{name}: required")
    if len(value) > max_length:
        raise RowError(f"{name}: longer than {max_length} characters")
    return value


def clean_subjects(value):
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.split(";")
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise RowError("subjects: expected a list of strings or a ';'-separated string")
    subjects = [s.strip() for s in value if s.strip()]
    if any(len(s) > 200 or CONTROL_CHARACTERS.search(s) for s in subjects):
        raise RowError("subjects: a subject is over 200 characters or has control characters")
    return subjects


# Years of first publication a catalogue may hold: before the common era as negative numbers
# (Homer about -750), up to next year (a book may be catalogued before it appears). The
# importer, the admin's form and the API hold to the same.
EARLIEST_YEAR = -3000


def latest_year():
    return timezone.localdate().year + 1


def clean_year(value):
    if value in (None, ""):
        return None
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise RowError(f"year: not a whole number: {str(value)[:20]!r}") from None
    if not EARLIEST_YEAR <= year <= latest_year():
        raise RowError(f"year: {year} is not between {EARLIEST_YEAR} and {latest_year()}")
    return year


def clean_record(record):
    """A catalogue record as Book field values, or RowError naming what is wrong."""
    external_id = record.get("external_id", record.get("id"))
    if external_id is not None and not isinstance(external_id, (str, int)):
        raise RowError("external_id: expected text or a number")
    return {
        "external_id": clean_text({"external_id": "" if external_id is None else str(external_id)},
                                  "external_id", max_length=200) or None,
        "title": clean_text(record, "title", max_length=MAX_SUMMARY_CHARS, required=True),
        "author": clean_text(record, "author", max_length=300),
        "summary": clean_text(record, "summary", max_length=MAX_SUMMARY_CHARS),
        "language": clean_text(record, "language", max_length=16),
        "subjects": clean_subjects(record.get("subjects")),
        "year": clean_year(record.get("year")),
    }


def import_books(rows, *, batch_size=500, progress=None):
    """Upsert ``(line number, record)`` rows; return an ImportReport."""
    report = ImportReport()
    first_line = {}  # external id -> the line that brought it, to reject repeats
    batch = []
    for number, record in rows:
        try:
            if isinstance(record, RowError):
                raise record
            values = clean_record(record)
            if len(values["title"]) > TITLE_MAX_LENGTH:  # full title pages of old books run long
                values["title"] = Truncator(values["title"]).chars(TITLE_MAX_LENGTH)
                report.shortened.append(number)
            key = values["external_id"]
            if key is not None:
                if key in first_line:
                    raise RowError(f"external_id {key!r} repeats line {first_line[key]}")
                first_line[key] = number
            batch.append(values)
        except RowError as exc:
            report.rejected.append((number, str(exc)))
        if len(batch) >= batch_size:
            _upsert(batch, report)
            batch = []
        if progress is not None:
            progress.update(1)
    _upsert(batch, report)
    return report


@transaction.atomic
def _upsert(batch, report):
    """Write one batch in one transaction; sync bookrec's records of what changed (bulk writes
    send no signals) and queue the changed texts for embedding after commit."""
    if not batch:
        return
    existing = Book.objects.in_bulk(
        [values["external_id"] for values in batch if values["external_id"] is not None], field_name="external_id"
    )
    to_create, changed = [], []
    now = timezone.now()
    for values in batch:
        book = existing.get(values["external_id"])
        if book is None:
            to_create.append(Book(**values))
        elif any(getattr(book, name) != values[name] for name in CATALOGUE_FIELDS):
            for name in CATALOGUE_FIELDS:
                setattr(book, name, values[name])
            book.updated_at = now  # bulk_update does not apply auto_now
            changed.append(book)
        else:
            report.unchanged += 1
    Book.objects.bulk_create(to_create)
    if changed:
        Book.objects.bulk_update(changed, CATALOGUE_FIELDS + ["updated_at"])
    report.created += len(to_create)
    report.updated += len(changed)
    # Only a changed text touches the vector: a new year or subject keeps it.
    registration = registration_for(Book)
    pending = indexing.sync_objects(registration, to_create + changed)
    report.queued += len(pending)
    tasks.queue_embedding_on_commit(registration, pending)
