"""Cross-lingual search quality: the same topics asked in English and in Chinese.

    python bench/crosslingual.py CATALOGUE.jsonl[.gz] [--json] [--per-topic]

Imports and embeds the catalogue as bench/quality.py does (a scratch database, dropped at the
end; vectors cached in var/bench-cache), then asks free-text search — the app's Python API,
``bookrec.recommend.search`` — each topic of bench/crosslingual_topics.py in both languages, in
every mode, over all books and over the English books only (``language=en``). P@10 is the
fraction of the ten results that carry one of the topic's main LCSH headings, averaged over
the topics that have at least one such book among the candidates. The summaries are English
and 209 titles Chinese, so a Chinese query can only meet an English summary through the
multilingual vectors; the keyword leg meets Chinese titles (and authors) only.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crosslingual_topics import TOPICS  # noqa: E402
from bench.quality import imported_catalogue, log  # noqa: E402

TOP = 10
MODES = ["vector", "keyword", "hybrid"]
LANGUAGES = ["en", "zh"]
SCOPES = {"all": None, "english_books": {"language": "en"}}


def answers(books, labels, headings, scope):
    """The books of ``scope`` that answer a topic of these headings."""
    return {
        pk for pk, book in books.items()
        if labels[book.external_id]["lcsh"] & headings and (scope is None or book.language == scope["language"])
    }


def measure(books, labels):
    """{scope: {mode: {language: P@10}}} and {scope: {mode: {language: [P@10 per topic]}}}."""
    from bookrec import recommend
    from bookrec.models import Book

    table, per_topic = {}, {}
    for scope_name, filters in SCOPES.items():
        table[scope_name], per_topic[scope_name] = {}, {}
        for mode in MODES:
            table[scope_name][mode], per_topic[scope_name][mode] = {}, {}
            for language_index, language in enumerate(LANGUAGES):
                scores = []
                for topic in TOPICS:
                    headings = topic[2]
                    relevant = answers(books, labels, headings, filters)
                    if not relevant:
                        scores.append(None)
                        continue
                    found = recommend.search(Book, topic[language_index], mode=mode, limit=TOP, filters=filters)
                    scores.append(sum(1 for item in found if item.object.pk in relevant) / TOP)
                per_topic[scope_name][mode][language] = scores
                measured = [score for score in scores if score is not None]
                table[scope_name][mode][language] = round(float(np.mean(measured)), 3)
    return table, per_topic


def ratio(table, scope, mode):
    english = table[scope][mode]["en"]
    return table[scope][mode]["zh"] / english if english else None


def print_table(table, info, per_topic=None):
    from bookrec.conf import bookrec_settings

    default = bookrec_settings.SEARCH_MODE
    print(f"P@{TOP} of {len(TOPICS)} topics asked in English and in Chinese, {info['books']} books "
          f"(import {info['import_s']} s, embedding {info['embed_s']} s, searching {info['search_s']} s)\n")
    print("| mode | English, all books | Chinese, all books | zh / en | English, English books "
          "| Chinese, English books | zh / en |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in MODES:
        cells = []
        for scope in SCOPES:
            cells += [f"{table[scope][mode]['en']:.3f}", f"{table[scope][mode]['zh']:.3f}", f"{ratio(table, scope, mode):.2f}"]
        name = f"{mode} (default)" if mode == default else mode
        print(f"| {name} | " + " | ".join(cells) + " |")
    if per_topic:
        print(f"\nPer topic, {default} mode, all books (English / Chinese):\n")
        scores = per_topic["all"][default]
        for (english, chinese, _), en, zh in zip(TOPICS, scores["en"], scores["zh"]):
            print(f"- {english} / {chinese}: {en:.1f} / {zh:.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogue", help="JSON Lines catalogue (optionally .gz), e.g. ../shared/data/gutenberg-dev.jsonl.gz")
    parser.add_argument("--json", action="store_true", help='print {"<scope>": {"<mode>": {"en": P, "zh": P}}}')
    parser.add_argument("--per-topic", action="store_true", help="also list each topic's P@10 in the default mode")
    args = parser.parse_args(argv)
    if not Path(args.catalogue).exists():
        parser.error(f"{args.catalogue}: no such file")

    progress = not args.json or sys.stderr.isatty()
    with imported_catalogue(args.catalogue, progress) as (books, labels, timings):
        started = time.monotonic()
        table, per_topic = measure(books, labels)
        timings["search_s"] = round(time.monotonic() - started, 1)
        info = {"books": len(books), **timings}
        log(f"Searched {len(TOPICS)} topics x {len(LANGUAGES)} languages x {len(MODES)} modes x "
            f"{len(SCOPES)} scopes in {timings['search_s']} s.")
        if args.json:
            print(json.dumps(table))
        else:
            print_table(table, info, per_topic if args.per_topic else None)


if __name__ == "__main__":
    main()
