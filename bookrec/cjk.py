"""Chinese, Japanese and Korean text made searchable by PostgreSQL's full-text parser.

Those scripts do not separate words with spaces, so the parser takes a whole run of them
("机器学习实战") as one word, and a query for 机器学习 never matches it. As Lucene's CJK
analyzer does, a run of CJK characters becomes its overlapping character bigrams
("机器 器学 学习 习实 实战"). Documents also keep each character on its own (Elasticsearch's
``output_unigrams``), so that a one-character query (猫, 茶) finds them; a longer query is
matched by its bigrams only, which keeps it precise. No dictionary to keep: a segmenter such as
jieba knows Chinese only, and only the words in its vocabulary. Text in other scripts is left
as it was: English stemming is unchanged.
"""

import re
import unicodedata

# Han (the unified ideographs, extension A, the compatibility ideographs and the
# supplementary planes' extensions), the iteration marks, Hiragana, Katakana and Hangul.
CJK_CHARACTERS = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u3005\u3007"  # 々 〇
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK unified ideographs extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK unified ideographs extensions B to H
)
_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")


def _bigrams(run, unigrams):
    pairs = [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return " " + " ".join([*pairs, *run] if unigrams and len(run) > 1 else pairs) + " "


def _searchable(text, unigrams):
    # NFKC folds compatibility forms: fullwidth Latin letters, halfwidth Katakana.
    return _CJK_RUN.sub(lambda match: _bigrams(match.group(), unigrams), unicodedata.normalize("NFKC", text))


def document_text(text):
    """A document's text as the full-text parser should see it: CJK runs as their bigrams and
    characters."""
    return _searchable(text, unigrams=True)


def query_text(text):
    """A query's text as the full-text parser should see it: CJK runs as their bigrams (a lone
    character as itself)."""
    return _searchable(text, unigrams=False)
