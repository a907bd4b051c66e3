"""Why each recommendation is there, from what the ranking already knows: which first stage(s)
found it, the query's words it shares (the keyword leg's strongest terms), and the subjects it
shares with the book(s) asked about. Its similarity is the recommendation's own. Built for the
results of one request at once, never a query per result: one for the words of the lexemes,
and one for a many-to-many SUBJECTS field (a list field needs none).
"""

import re
from dataclasses import dataclass, replace

from django.db import connections
from django.db.models import Manager, prefetch_related_objects

from bookrec.cjk import document_text
from bookrec.conf import bookrec_settings
from bookrec.registry import field_values

_WORD = re.compile(r"\w+")
# Each wanted lexeme and the first word of the text that PostgreSQL turns into it.
_SURFACE_WORDS = """
    SELECT DISTINCT ON (t.lexeme) t.lexeme, w.word
      FROM unnest(%s::text[]) WITH ORDINALITY AS w(word, n), unnest(to_tsvector(%s::regconfig, w.word)) AS t
     WHERE t.lexeme = ANY(%s)
     ORDER BY t.lexeme, w.n
"""


@dataclass(frozen=True)
class Explanation:
    found_by: tuple = ()  # "vector", "keyword": the first stage(s) that ranked it
    matched_terms: tuple = ()  # the query's words it has, strongest first (keyword leg)
    shared_subjects: tuple = ()  # its subjects that the book(s) asked about have too

    def __str__(self):
        parts = ["found by " + " and ".join(self.found_by)] if self.found_by else []
        if self.shared_subjects:
            parts.append("shares " + ", ".join(self.shared_subjects))
        if self.matched_terms:
            parts.append("matches " + ", ".join(self.matched_terms))
        return "; ".join(parts)


def subjects(registration, objects):
    """{pk: frozenset of subject names} of ``objects`` (their registration's ``SUBJECTS`` field:
    a list, or a many-to-many relation, fetched for all of them in one query)."""
    name = registration.subjects_field
    if not name or not objects:
        return {obj.pk: frozenset() for obj in objects}
    if isinstance(getattr(objects[0], name, None), Manager):
        prefetch_related_objects(objects, name)
    return {obj.pk: frozenset(field_values(obj, name)) for obj in objects}


def subjects_of_all(registration, pks):
    """The subjects any of these objects has (none read when the model has no ``SUBJECTS``)."""
    if not registration.subjects_field or not pks:
        return frozenset()
    return frozenset().union(*subjects(registration, list(registration.objects().filter(pk__in=pks))).values())


def surface_words(text, lexemes, using="default"):
    """{lexeme: the first word of ``text`` that has it}; lexemes no word has are left out."""
    words = list(dict.fromkeys(_WORD.findall(document_text(text))))
    if not words or not lexemes:
        return {}
    with connections[using].cursor() as cursor:
        cursor.execute(_SURFACE_WORDS, [words, bookrec_settings.TEXT_SEARCH_CONFIG, list(lexemes)])
        return dict(cursor.fetchall())


def explained(items, query, registration):
    """``items`` (Recommendations) each with its ``explanation``."""
    if not items:
        return items
    lexemes = {lexeme for item in items for lexeme in item.matched}
    words = surface_words(query.text, lexemes, using=items[0].object._state.db) if query.text else {}
    own = subjects(registration, [item.object for item in items]) if query.subjects else {}
    return [
        replace(item, explanation=Explanation(
            found_by=item.found_by,
            matched_terms=tuple(words.get(lexeme, lexeme) for lexeme in item.matched),
            shared_subjects=tuple(sorted(own.get(item.object.pk, frozenset()) & query.subjects)),
        ))
        for item in items
    ]
